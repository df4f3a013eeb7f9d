"""Screenshots of a running TensorBoard's dashboards, for the docs.

Takes one PNG per view of a dashboard with headless Chromium (one browser at a time,
each with a fresh profile), then, if Pillow can be imported, shrinks it to
a small palette PNG. Nothing here draws or fakes a dashboard: each image is
what TensorBoard served.

Usage (TensorBoard already running, e.g. from `ktb board LOGDIR --port N`):

    python docs/screenshots.py http://127.0.0.1:N/ docs/
    python docs/screenshots.py http://127.0.0.1:N/ docs/ --only scalars graphs

Needs the `chromium` binary (Debian package `chromium`); Pillow is optional
(without it the PNGs are kept as Chromium wrote them).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

# Screenshot name -> the dashboard (`tab`, default: the name), its URL
# fragment parameters, and optionally a window size. The legacy dashboards
# keep their state in the fragment (`#tab&key=value`): `regexInput` filters
# the runs shown, `tagFilter` the cards; both are TensorBoard's own hash
# parameters. The run names fit `ktb demo`'s log directory
# (`sequential/run`, `functional/run`, `subclassed/run`, `search/`); on
# another log directory the filters may match nothing: pass --no-filters.
# Graphs, HParams and Projector keep no state in the URL (Graphs shows the
# first run that has a graph, HParams its table view).
DASHBOARDS = {
    "scalars": {
        "params": {
            "regexInput": r"^(sequential|functional|subclassed)/run/|^search/trial_\d+/",
            "tagFilter": r"^epoch_(loss|accuracy)$",
        },
    },
    # ScalarLogger's additions: the schedule and the throughput.
    "throughput": {
        "tab": "scalars",
        "params": {
            "regexInput": r"^(sequential|functional|subclassed)/run/train$",
            "tagFilter": r"^epoch_(learning_rate|steps_per_second|examples_per_second)$",
        },
    },
    # LayoutWriter's layout: train and validation of a metric on one chart.
    "custom_scalars": {
        "params": {"regexInput": r"^(sequential|functional|subclassed)/run/"},
    },
    "images": {
        "params": {"regexInput": r"^functional/run/", "tagFilter": r"^(history|confusion_matrix)$"},
    },
    # MistakesLogger and GradCAMLogger, on the Images dashboard.
    "mistakes": {
        "tab": "images",
        "params": {"regexInput": r"^functional/run/", "tagFilter": r"^(mistakes|grad_cam)$"},
        "window": (1280, 1000),
    },
    "pr_curves": {
        "params": {"regexInput": r"^(sequential|functional|subclassed)/run/validation$"},
        "window": (1280, 1150),
    },
    "histograms": {
        "params": {"regexInput": r"^functional/run/train$", "tagFilter": r"^weights/"},
    },
    "distributions": {
        "params": {"regexInput": r"^functional/run/train$", "tagFilter": r"^weights/"},
    },
    "graphs": {},
    "text": {"params": {"regexInput": r"^search$"}},
    "hparams": {"window": (1600, 1000)},
    "projector": {},
}

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    # The Projector draws with WebGL; without a GPU that is SwiftShader,
    # which newer Chromium only uses when asked.
    "--enable-unsafe-swiftshader",
]


def dashboard_url(base, name, params):
    """`base` + `#name&key=value...`, values percent-encoded."""
    fragment = name + "".join(
        f"&{key}={urllib.parse.quote(value, safe='')}" for key, value in params.items()
    )
    return base.rstrip("/") + "/#" + fragment


def capture(chromium, url, path, width, height, budget_ms, timeout_s):
    """Runs one headless Chromium that writes a screenshot of `url` to `path`."""
    profile = tempfile.mkdtemp(prefix="ktb-shot-")
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={os.path.abspath(path)}",
        url,
    ]
    try:
        subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=timeout_s, check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise RuntimeError(f"chromium wrote no screenshot for {url}")


def shrink(path, max_width, colors):
    """Resizes to at most `max_width` px wide and quantizes to a palette."""
    try:
        from PIL import Image
    except ImportError:
        return False
    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > max_width:
            height = round(image.height * max_width / image.width)
            image = image.resize((max_width, height), Image.LANCZOS)
        image = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        image.save(path, optimize=True)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="TensorBoard's URL, e.g. http://127.0.0.1:6006/")
    parser.add_argument("outdir", help="folder for <name>.png")
    parser.add_argument("--only", nargs="+", choices=sorted(DASHBOARDS), help="screenshots to take")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--budget-ms", type=int, default=20000,
                        help="Chromium --virtual-time-budget (default: 20000)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per Chromium run")
    parser.add_argument("--max-width", type=int, default=1000, help="width after shrinking")
    parser.add_argument("--colors", type=int, default=64, help="palette size after shrinking")
    parser.add_argument("--raw", action="store_true", help="keep Chromium's PNGs as they are")
    parser.add_argument("--no-filters", action="store_true",
                        help="leave out the run/tag filters meant for the demo log directory")
    args = parser.parse_args(argv)

    os.makedirs(args.outdir, exist_ok=True)
    failed = []
    for name in args.only or DASHBOARDS:
        settings = DASHBOARDS[name]
        params = {} if args.no_filters else settings.get("params", {})
        url = dashboard_url(args.url, settings.get("tab", name), params)
        width, height = settings.get("window", (args.width, args.height))
        path = os.path.join(args.outdir, f"{name}.png")
        try:
            capture(args.chromium, url, path, width, height, args.budget_ms, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"{name}: FAILED: {error}", file=sys.stderr)
            failed.append(name)
            continue
        if not args.raw:
            shrink(path, args.max_width, args.colors)
        print(f"{name}: {path} ({os.path.getsize(path) // 1024} KiB) <- {url}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
