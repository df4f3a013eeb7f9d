"""The `ktb` command line (also `python -m keras_tb_toolkit`).

Usage errors print one line, `ktb <command>: error: <what>`, and exit with
status 2 before anything is written. TensorFlow is imported only after the
arguments have been parsed, so a mistyped flag answers at once.
"""

import argparse
import os
import sys

from . import board, demo, report, train, tune

EXIT_USAGE = 2
COMMANDS = (train, tune, demo, report, board)


class UsageError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = _Parser(
        prog="ktb",
        description="Train and search Keras models and look at them in TensorBoard.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv=None):
    """Runs `ktb` with `argv` (default: `sys.argv[1:]`); returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    prog = f"ktb {command}" if command else "ktb"
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ..errors import ToolkitError

    try:
        return args.handler(args)
    except ToolkitError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
