"""The `ktb` command line (also `python -m toolkit`).

Usage errors print one line, `ktb <command>: error: <what>`, and exit with
status 2 before anything is written. TensorFlow is imported only after the
arguments have been parsed, so a mistyped flag answers at once.
"""

import argparse
import os
import sys

EXIT_USAGE = 2
DATASET_NAMES = ("mnist-mini", "mnist", "fashion_mnist")
API_STYLES = ("sequential", "functional", "subclassed")


class UsageError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, received: {text!r}"
        )
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a finite number > 0, received: {text!r}"
        )
    return value


def build_parser():
    parser = _Parser(
        prog="ktb",
        description="Train and search Keras models and look at them in TensorBoard.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser(
        "train", help="train one API style with every TensorBoard callback"
    )
    train.add_argument(
        "--api", choices=API_STYLES, default="sequential",
        help="Keras API style of the model (default: %(default)s)",
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument(
        "--data", metavar="PATH",
        help="an .npz file with x_train, y_train, x_test, y_test",
    )
    source.add_argument(
        "--dataset", choices=DATASET_NAMES, default=None,
        help="a named data set (default: mnist-mini, embedded in the package)",
    )
    train.add_argument("--epochs", type=positive_int, default=5, help="(default: %(default)s)")
    train.add_argument("--batch-size", type=positive_int, default=128, help="(default: %(default)s)")
    train.add_argument("--learning-rate", type=positive_float, default=1e-3, help="(default: %(default)s)")
    train.add_argument("--logdir", default="logs", help="log root (default: %(default)s)")
    train.add_argument("--run-name", help="name of the run directory (default: the start time)")
    train.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    train.add_argument(
        "--limit", type=positive_int, default=None,
        help="use only the first N training and test images (quick runs)",
    )
    train.add_argument(
        "--lr-schedule", choices=("cosine", "constant"), default="cosine",
        help="learning rate over the run (default: %(default)s)",
    )
    train.add_argument(
        "--deterministic", action="store_true",
        help="turn on TensorFlow op determinism (bit-exact reruns, slower)",
    )
    train.set_defaults(handler=_run_train)
    return parser


def _run_train(args):
    from toolkit.config import TrainConfig

    config = TrainConfig(
        api=args.api,
        data=args.data or args.dataset or "mnist-mini",
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        logdir=args.logdir,
        run_name=args.run_name,
        seed=args.seed,
        limit=args.limit,
        deterministic=args.deterministic,
        lr_schedule=args.lr_schedule,
    )
    arrays = config.check()
    from toolkit import training

    result = training.train(config, arrays=arrays)
    print(f"test accuracy: {result.test_accuracy:.4f}")
    print(f"run directory: {result.run_dir}")
    return 0


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
    from toolkit.errors import ToolkitError

    try:
        return args.handler(args)
    except ToolkitError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
