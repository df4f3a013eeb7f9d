"""The `ktb` command line (also `python -m keras_tb_toolkit`).

Usage errors print one line, `ktb <command>: error: <what>`, and exit with
status 2 before anything is written (a `--logdir` URL on a file system this
TensorFlow lacks, or cannot reach, is one); a fault at run time (a full disk, a
corrupt file) is one line too, with status 1. `--verbose` adds the
traceback. TensorFlow is imported only after the
arguments have been parsed, so a mistyped flag answers at once.

TensorFlow's start-up lines from C++ (no CUDA driver, the absl preamble) are
filtered out unless `--verbose` is given or `TF_CPP_MIN_LOG_LEVEL` is set by
the user; real warnings and errors still show. `ktb --version` prints the
versions of the toolkit and of the libraries it runs on.
"""

import argparse
import importlib.metadata
import os
import sys
import traceback

from . import _quiet, board, demo, report, train, tune

EXIT_USAGE = 2
# keras_tb_toolkit: the package that `toolkit` and `callbacks` are mapped under.
_ROOT = __package__.rsplit(".", 2)[0]
EXIT_RUNTIME = 1
COMMANDS = (train, tune, demo, report, board)


class UsageError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class _VersionRequested(Exception):
    """Raised by `--version`, so that `main` returns 0 instead of exiting."""


class _Version(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        raise _VersionRequested()


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

    parser.add_argument(
        "--version", action=_Version, nargs=0,
        help="print the versions of keras-tb-toolkit and the libraries it uses, then exit",
    )
    for command in COMMANDS:
        command.add_parser(commands)
    for subparser in commands.choices.values():
        subparser.add_argument(
            "--verbose", action="store_true",
            help="show TensorFlow's start-up messages and full tracebacks",
        )
    return parser


def versions():
    """One line per distribution: the toolkit and what it runs on."""
    lines = []
    for name in ("keras-tb-toolkit", "tensorflow", "keras", "keras-tuner", "tensorboard"):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        lines.append(f"{name} {version}")
    return "\n".join(lines)


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
    except _VersionRequested:
        print(versions())
        return 0
    if not args.verbose and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        # Level 1 hides TensorFlow's INFO lines once absl is initialised;
        # the filter takes those printed before (see _quiet).
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"
        _quiet.filter_native_stderr()
    try:
        return args.handler(args)
    except _usage_errors() as error:
        if args.verbose:
            traceback.print_exc()
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # A fault at run time: disk full, a corrupt file...
        if args.verbose:
            traceback.print_exc()
            hint = ""
        else:
            hint = " (--verbose shows the traceback)"
        print(f"{prog}: error: {one_line(error)}{hint}", file=sys.stderr)
        return EXIT_RUNTIME


def _usage_errors():
    """The exception types that are usage errors (status 2).

    The toolkit's `ToolkitError`s, and `callbacks._fs.FileSystemError` (a
    URL on a file system this TensorFlow lacks or cannot reach): the
    callbacks never import the toolkit, so it cannot subclass ours. Looked
    up only once an error is raised, and only if `_fs` is loaded (else none
    was raised), so a usage error of a local path still needs no TensorFlow.
    """
    from ..errors import ToolkitError

    fs = sys.modules.get(f"{_ROOT}.callbacks._fs")
    return (ToolkitError,) if fs is None else (ToolkitError, fs.FileSystemError)


def one_line(error):
    """`error` as one line: its first line, named by type unless ours."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if type(error).__module__.startswith(_ROOT):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
