"""Wall time of a `ktb tune` search against the same search in bare keras-tuner.

Bare: `keras_tuner.RandomSearch` over the same HyperModel with only
`keras.callbacks.TensorBoard` (keras-tuner reroutes it per trial and adds its
HParams callback). Ours: `toolkit.tuning`'s RandomSearch with every toolkit
callback (`training.build_callbacks`) per trial, HParams sessions, the
experiment config and the leaderboard. Both search the same space with the
same oracle seed, so they train the same configurations on the same data.
The variants alternate round after round (the order flips each round); the
script prints the median wall time of each and their ratio (goal <= 1.05).

Usage (from the repository root):

    python bench/search_overhead.py --rounds 3 --trials 3 --epochs 2 --limit 2000
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

from keras_tb_toolkit.toolkit import data, search_spaces, tuning  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist-mini")
    parser.add_argument("--space", default="sequential", choices=search_spaces.SPACES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--split", action="store_true",
                        help="also time ktb tune's tuner with only keras' TensorBoard")
    args = parser.parse_args()

    pipelines = data.load_data(
        args.data, batch_size=args.batch_size, epochs=args.epochs,
        validation_split=0.1, limit=args.limit,
    )
    hypermodel = search_spaces.make_hypermodel(
        args.space, pipelines.input_shape, pipelines.num_classes
    )
    fit = dict(
        epochs=args.epochs, steps_per_epoch=pipelines.steps_per_epoch,
        validation_data=pipelines.validation, shuffle=False, verbose=0,
    )
    root = tempfile.mkdtemp(prefix="search_overhead-")

    def bare(directory):
        tuner = kt.RandomSearch(
            hypermodel, objective=kt.Objective(tuning.OBJECTIVE, "max"),
            max_trials=args.trials, seed=tuning.oracle_seed(0), directory=directory,
            project_name="bare",
            max_consecutive_failed_trials=args.trials + 1,
        )
        tuner.search(
            pipelines.train,
            callbacks=[keras.callbacks.TensorBoard(os.path.join(directory, "tb"))],
            **fit,
        )

    def ours(directory, callback_factory=None):
        tuner = tuning.make_tuner(
            "random", hypermodel, pipelines=pipelines, directory=directory,
            project_name="ours", max_trials=args.trials, epochs=args.epochs, seed=0,
            callback_factory=callback_factory,
        )
        tuner.search(pipelines.train, **fit)
        tuner.write_leaderboard(tuner.leaderboard())

    def ours_tensorboard_only(directory):
        # Separates the tuner's own cost (sessions, run dirs) from the callbacks'.
        ours(directory, lambda run_dir, _: [keras.callbacks.TensorBoard(run_dir)])

    variants = {"bare keras-tuner": bare, "ktb tune": ours}
    if args.split:
        variants["ktb tune, TensorBoard only"] = ours_tensorboard_only
    times = {name: [] for name in variants}
    try:
        for round_ in range(args.rounds + 1):  # round 0 warms up
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in order:
                directory = os.path.join(root, f"{round_}-{list(variants).index(name)}")
                start = time.perf_counter()
                variants[name](directory)
                elapsed = time.perf_counter() - start
                if round_:
                    times[name].append(elapsed)
                print(f"round {round_} {name}: {elapsed:.2f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:>18}: median {median:.2f} s over {args.rounds} rounds")
    for name in list(variants)[1:]:
        ratio = medians[name] / medians["bare keras-tuner"]
        print(f"ratio {name} / bare keras-tuner: {ratio:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
