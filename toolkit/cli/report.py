"""`ktb report`: a figure and a text summary of the runs under a log directory."""

import argparse
import os

# toolkit.report imports matplotlib and TensorBoard only when drawing, so
# a usage error still answers at once.
from ..report import FORMATS


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
    report.add_argument("logdir", metavar="LOGDIR", help="log root, experiment, search or run directory")
    report.add_argument(
        "--out", type=_figure_path, metavar="FILE",
        help="a .png or .svg file (default: LOGDIR/report.png)",
    )
    report.add_argument(
        "--metric", metavar="NAME",
        help="metric drawn and ranked, e.g. loss (default: accuracy if logged, else loss)",
    )
    report.set_defaults(handler=run)


def run(args):
    from .. import report

    out, summary = report.write_report(args.logdir, out=args.out, metric=args.metric)
    print(f"report written to {out}")
    print(summary)
    return 0
