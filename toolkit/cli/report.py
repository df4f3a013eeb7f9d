"""`ktb report`: a figure and a text summary of the runs under a log directory.

Exit status: 0 when the report is written; 2 for a usage error (a bad
argument, a log directory with nothing to report); 1 when the system
refuses (a read-only directory, a full disk, an unreadable file). Each
error is one line on stderr, never a traceback.
"""

import argparse
import os
import sys
import time

# toolkit.report imports matplotlib and TensorBoard only when drawing, so
# a usage error still answers at once.
from ..report import FORMATS

EXIT_FAULT = 1
# Reading that ends sooner than this prints no progress at all.
QUIET_SECONDS = 2.0
# Without a terminal a line is printed each time another tenth is done.
LOG_STEPS = 10
_LINE = 72  # a terminal line is padded to this, to cover a longer one


def _figure_path(text):
    if os.path.splitext(text)[1].lower() not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"must end in {' or '.join(FORMATS)}, received: {text!r}"
        )
    return text


def add_parser(commands):
    report = commands.add_parser(
        "report", help="draw the runs of a log directory into one PNG or SVG figure"
    )
    report.add_argument("logdir", metavar="LOGDIR",
                        help="log root, experiment, search or run directory; a URL "
                        "TensorFlow reads, such as gs://bucket/logs, too")
    report.add_argument(
        "--out", type=_figure_path, metavar="FILE",
        help="a .png or .svg file, or a URL (default: LOGDIR/report.png)",
    )
    report.add_argument(
        "--metric", metavar="NAME",
        help="metric drawn and ranked, e.g. loss (default: accuracy if logged, else loss)",
    )
    report.add_argument(
        "--all-hparams", action="store_true",
        help="show every hyperparameter, also those the same in every trial",
    )
    report.add_argument(
        "--all-metrics", action="store_true",
        help="list the final value of every scalar of the runs shown",
    )
    report.set_defaults(handler=run)


def run(args):
    from .. import report
    from ..errors import ToolkitError

    try:
        out, summary = report.write_report(
            args.logdir, out=args.out, metric=args.metric, all_hparams=args.all_hparams,
            all_metrics=args.all_metrics, progress=Progress(),
        )
    except ToolkitError:
        raise  # usage errors: `ktb` prints them and exits with status 2
    except OSError as error:
        print(f"ktb report: error: {error}", file=sys.stderr)
        return EXIT_FAULT
    print(f"report written to {out}")
    print(summary)
    return 0


class Progress:
    """Prints how many event directories were read, and about how long the
    rest will take.

    Silent when reading ends within `quiet_seconds`. On a terminal one
    line is rewritten in place; in a log (CI) a new line is printed each
    time another tenth is done, so the log stays short and readable.
    Written to stderr: stdout carries the summary, which may be redirected
    to a file.

    Args:
        stream: Where to write. Defaults to `None`: `sys.stderr` at the
            time of writing.
        clock: Seconds, monotonic. Defaults to `time.monotonic`.
        quiet_seconds: Defaults to `QUIET_SECONDS`.
    """

    def __init__(self, stream=None, clock=time.monotonic, quiet_seconds=QUIET_SECONDS):
        self._stream = stream
        self._clock = clock
        self._quiet_seconds = quiet_seconds
        self._start = None
        self._logged_step = 0
        self._shown = False

    def __call__(self, done, total):
        now = self._clock()
        if done == 0 or self._start is None:
            self._start, self._logged_step, self._shown = now, 0, False
            return
        elapsed = now - self._start
        if not self._shown and (elapsed < self._quiet_seconds or done == total):
            return
        stream = self._stream or sys.stderr
        tty = stream.isatty()
        step = done * LOG_STEPS // total
        if not tty and self._shown and step == self._logged_step and done < total:
            return
        # TensorBoard runs: a Keras run is two or three event directories.
        if done < total:
            left = elapsed / done * (total - done)
            left = "under 1 s" if left < 0.5 else f"about {_duration(left)}"
            line = (f"reading events: {done}/{total} directories ({100 * done // total}%), "
                    f"{left} left")
        else:
            line = f"reading events: {done}/{total} directories in {_duration(elapsed)}"
        if tty:
            stream.write(f"\r{line:<{_LINE}}" + ("\n" if done == total else ""))
        else:
            stream.write(line + "\n")
        stream.flush()
        self._shown, self._logged_step = True, step


def _duration(seconds):
    """ "45 s", "2 min 05 s"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"
