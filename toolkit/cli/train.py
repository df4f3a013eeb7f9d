"""`ktb train`: one API style, every TensorBoard callback attached."""

import argparse
import dataclasses
import sys

from ._args import positive_float, positive_int, positive_int_up_to, seed
from ..config import (
    API_STYLES, LR_SCHEDULES, MAX_BATCH_SIZE, MAX_EPOCHS, STRATEGIES, TrainConfig,
)
from ..data import DATASETS
from ..errors import ConfigError


def add_parser(commands):
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
        "--dataset", choices=DATASETS, default=None,
        help="a named data set (default: mnist-mini, embedded in the package)",
    )
    # The settings a run stores default to None here, so that `--resume` can
    # tell one given on its command line from one left out; `run` fills in
    # TrainConfig's defaults, which the help texts show.
    train.add_argument("--epochs", type=positive_int_up_to(MAX_EPOCHS), default=None,
                       help=f"(default: {TrainConfig.epochs})")
    train.add_argument("--batch-size", type=positive_int_up_to(MAX_BATCH_SIZE), default=None,
                       help=f"(default: {TrainConfig.batch_size})")
    train.add_argument("--learning-rate", type=positive_float, default=None,
                       help=f"(default: {TrainConfig.learning_rate})")
    train.add_argument("--logdir", default="logs", help="log root (default: %(default)s)")
    train.add_argument("--run-name", help="name of the run directory (default: the start time)")
    train.add_argument("--seed", type=seed, default=None, help=f"(default: {TrainConfig.seed})")
    train.add_argument(
        "--limit", type=positive_int, default=None,
        help="use only the first N training and test images (quick runs)",
    )
    train.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, default=None,
        help=f"learning rate over the run (default: {TrainConfig.lr_schedule})",
    )
    train.add_argument(
        "--save-freq", type=save_freq, default=None,
        help=f"checkpoint every epoch or every N batches (default: {TrainConfig.save_freq})",
    )
    train.add_argument(
        "--resume", action="store_true",
        help="continue run --run-name from its newest valid checkpoint, with "
        "the configuration it started with (a setting given that differs from "
        "it is refused: start a new run to change it)",
    )
    train.add_argument(
        "--deterministic", action="store_true", default=None,
        help="turn on TensorFlow op determinism (bit-exact reruns, slower)",
    )
    train.add_argument(
        "--profile-batches", type=profile_batches, default=None, metavar="START,STOP",
        help="trace batches START to STOP (counted from 1 across epochs; N alone "
        "for one batch) with TensorFlow's profiler, for the Profile dashboard",
    )
    train.add_argument(
        "--strategy", choices=STRATEGIES, default="auto",
        help="auto: one machine, TensorFlow's default (default); mirrored: "
        "every local device; multi-worker: the machines TF_CONFIG names, each "
        "running this same command (--batch-size is the global batch)",
    )
    train.set_defaults(handler=run)


def save_freq(text):
    if text == "epoch":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'epoch' or a positive number of batches, received: {text!r}"
        ) from None


def profile_batches(text):
    """`START,STOP` (or `N`, one batch) as a `(start, stop)` pair, 1 <= start <= stop."""
    parts = text.split(",")
    try:
        pair = tuple(int(part) for part in parts)
    except ValueError:
        pair = ()
    if len(pair) == 1:
        pair = pair * 2
    if len(pair) != 2 or not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(
            "must be START,STOP batches with 1 <= START <= STOP (or one batch N >= 1), "
            f"received: {text!r}"
        )
    return pair


def _note_without_profile_plugin():
    """One line on stderr saying how to get the Profile dashboard, if missing.

    Not a usage error: TensorFlow's profiler writes the trace without the
    plugin, and a trace taken on a training machine is often viewed on
    another one that has it.
    """
    from ...callbacks.batch_profiler import PROFILE_EXTRA, profile_plugin_installed

    if not profile_plugin_installed():
        print("ktb train: note: the trace is written, but TensorBoard shows it only "
              f"with the Profile plugin: {PROFILE_EXTRA}", file=sys.stderr)


# The settings a run stores in config.json, by their flag.
STORED_SETTINGS = {
    "epochs": "--epochs", "batch_size": "--batch-size",
    "learning_rate": "--learning-rate", "seed": "--seed", "limit": "--limit",
    "lr_schedule": "--lr-schedule", "save_freq": "--save-freq",
    "deterministic": "--deterministic",
}


def refuse_changed_settings(args, stored):
    """Fails if a setting given with `--resume` differs from the run's own.

    A resumed run ends where an uninterrupted one would only with the
    configuration it started with (the cosine schedule spans its epochs), so
    a new `--epochs` or `--learning-rate` is an error, not silently ignored.
    """
    given = {name: getattr(args, name) for name in STORED_SETTINGS}
    given["data"] = args.data or args.dataset
    flags = {**STORED_SETTINGS, "data": "--data" if args.data else "--dataset"}
    for name, value in given.items():
        if value is not None and value != getattr(stored, name):
            raise ConfigError(
                f"--resume: {flags[name]} {value} differs from run "
                f"{stored.run_name!r}, started with {getattr(stored, name)}; a "
                "resumed run keeps its configuration: leave the flag out, or "
                "start a new run (another --run-name) with it"
            )


def run(args):
    from ..config import read_config

    if args.resume:
        if args.run_name is None:
            raise ConfigError("--resume needs --run-name NAME, the run to continue")
        config = read_config(args.logdir, args.api, args.run_name)
        refuse_changed_settings(args, config)
        # A trace belongs to this invocation, not to the run's configuration.
        config = dataclasses.replace(config, profile_batches=args.profile_batches,
                                     strategy=args.strategy)
        print(f"resuming {config.logdir}/{config.api}/{config.run_name} with its stored configuration")
    else:
        for name in STORED_SETTINGS:
            if getattr(args, name) is None:
                setattr(args, name, getattr(TrainConfig, name))
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
            save_freq=args.save_freq,
            profile_batches=args.profile_batches,
            strategy=args.strategy,
        )
    arrays = config.validate().load_arrays()
    if config.profile_batches is not None:
        _note_without_profile_plugin()
    from .. import training

    result = training.train(config, arrays=arrays)
    if config.resume and result.initial_epoch >= config.epochs:
        print("resumed after the last epoch: nothing left to train")
    elif config.resume:
        print(f"resumed at epoch {result.initial_epoch + 1} of {config.epochs}, after "
              f"its batch {result.initial_batch}")
    print(f"test accuracy: {result.test_accuracy:.4f}")
    if result.chief:
        print(f"run directory: {result.run_dir}")
    else:
        print(f"run directory: {result.run_dir} (the chief writes it; this worker wrote nothing)")
    return 0
