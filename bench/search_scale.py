"""A 50-trial search at the scale users run: time, bytes, `ktb report`, TensorBoard.

Runs `ktb tune` as a user does (a subprocess, the light set per trial) on
the embedded mnist-mini, one epoch per trial, then measures:

- the search's wall time and the bytes of its directory (per trial, and
  `best/`);
- the wall time of `ktb report` on the search directory;
- the time until a freshly started `tensorboard --logdir SEARCH` (bound to
  127.0.0.1) lists every session in its HParams dashboard, polled through
  the hparams plugin's `session_groups` endpoint as the dashboard does.

Usage (from the repository root; about 15 minutes on 2 CPU cores):

    python bench/search_scale.py --trials 50 --epochs 1
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--space", default="all")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--keep", metavar="DIR",
                        help="search in DIR and keep it (default: a temporary directory)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="longest wait for TensorBoard, in seconds")
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="search_scale-")
    os.makedirs(root, exist_ok=True)
    search_dir = os.path.join(root, "scale")
    try:
        tune = [sys.executable, "-m", "keras_tb_toolkit", "tune", "--space", args.space,
                "--max-trials", str(args.trials), "--epochs", str(args.epochs),
                "--logdir", root, "--name", "scale", "--overwrite"]
        if args.limit:
            tune += ["--limit", str(args.limit)]
        seconds = timed(tune, os.path.join(root, "tune.log"))
        total = tree_bytes(search_dir)
        best = tree_bytes(os.path.join(search_dir, "best"))
        print(f"search: {args.trials} trials x {args.epochs} epoch(s) in {seconds:.1f} s "
              f"({seconds / args.trials:.1f} s per trial); {total / 1e6:.1f} MB in all, "
              f"{(total - best) / args.trials / 1e6:.2f} MB per trial, best/ {best / 1e6:.1f} MB",
              flush=True)
        report = [sys.executable, "-m", "keras_tb_toolkit", "report", search_dir,
                  "--out", os.path.join(root, "report.png")]
        print(f"ktb report: {timed(report, os.path.join(root, 'report.log')):.1f} s", flush=True)
        listed, count = time_to_sessions(search_dir, args.trials, args.timeout)
        print(f"tensorboard --logdir: all {count} sessions listed in HParams after "
              f"{listed:.1f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def timed(command, log_path):
    start = time.perf_counter()
    with open(log_path, "w") as log:
        subprocess.run(command, env=ENV, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def tree_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path)
               for f in names)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def session_count(url):
    request = {"allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                   "STATUS_RUNNING"],
               "colParams": [], "startIndex": 0, "sliceSize": 100000}
    body = json.dumps(request).encode()
    post = urllib.request.Request(url + "data/plugin/hparams/session_groups", data=body,
                                  headers={"Content-Type": "application/json",
                                           "X-XSRF-Protected": "1"})
    with urllib.request.urlopen(post, timeout=10) as response:
        return json.load(response).get("totalSize", 0)


def time_to_sessions(search_dir, sessions, timeout_s):
    """Seconds from starting TensorBoard until HParams lists `sessions` sessions."""
    port = free_port()
    tensorboard = shutil.which("tensorboard") or "tensorboard"
    start = time.perf_counter()
    process = subprocess.Popen(
        [tensorboard, "--logdir", search_dir, "--host", "127.0.0.1", "--port", str(port)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    count = 0
    try:
        while time.perf_counter() - start < timeout_s:
            try:
                count = session_count(url)
                if count >= sessions:
                    return time.perf_counter() - start, count
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.25)
        raise SystemExit(f"TensorBoard listed {count} of {sessions} sessions "
                         f"after {timeout_s} s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
