"""Wall time and bytes of a `ktb tune` search against the same search in bare keras-tuner.

Bare: `keras_tuner.RandomSearch` over the same HyperModel with only
`keras.callbacks.TensorBoard` (keras-tuner reroutes it per trial and adds its
HParams callback). Ours: `toolkit.tuning`'s RandomSearch with the light set
per trial (`--trial-callbacks light`, the default), HParams sessions, the
experiment config and the leaderboard; with `--full`, also the full set per
trial (`--trial-callbacks full`). Both search the same space with the same
oracle seed, so they train the same configurations on the same data. The
variants alternate round after round (the order flips each round); the
script prints the median wall time of each and their ratio (goal <= 1.05)
and the median of the ratios within each round,
the bytes each writes per trial (trial directories, and bare keras-tuner's
TensorBoard logs; goal <= 1.2x), and the once-per-search time and bytes of
inspecting the winner into `best/`, which bare keras-tuner does not do
(timed after all the rounds, so that its work does not fall on a timed run).

Usage (from the repository root):

    python bench/search_overhead.py --rounds 6 --trials 3 --epochs 2 --limit 2000
"""

import argparse
import os
import shutil
import statistics
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
    parser.add_argument("--full", action="store_true",
                        help="also time ktb tune with --trial-callbacks full")
    args = parser.parse_args()

    pipelines = data.load_data(
        args.data, batch_size=args.batch_size, epochs=args.epochs,
        validation_split=0.1, limit=args.limit,
    )
    hypermodel = search_spaces.make_hypermodel(
        args.space, pipelines.input_shape, pipelines.num_classes,
        steps_per_epoch=pipelines.steps_per_epoch,
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
        return tuner

    def ours(directory, trial_callbacks="light", callback_factory=None):
        tuner = tuning.make_tuner(
            "random", hypermodel, pipelines=pipelines, directory=directory,
            project_name="ours", max_trials=args.trials, epochs=args.epochs, seed=0,
            trial_callbacks=trial_callbacks, callback_factory=callback_factory,
        )
        tuner.search(pipelines.train, **fit)
        tuner.write_leaderboard(tuner.leaderboard())
        return tuner

    def ours_full(directory):
        return ours(directory, trial_callbacks="full")

    def ours_tensorboard_only(directory):
        # Separates the tuner's own cost (sessions, run dirs) from the callbacks'.
        return ours(directory, callback_factory=lambda run_dir, _: [
            keras.callbacks.TensorBoard(run_dir)])

    variants = {"bare keras-tuner": bare, "ktb tune": ours}
    if args.full:
        variants["ktb tune, full trials"] = ours_full
    if args.split:
        variants["ktb tune, TensorBoard only"] = ours_tensorboard_only
    times = {name: [] for name in variants}
    trial_bytes = {}
    inspections = []
    last_ours = None
    try:
        for round_ in range(args.rounds + 1):  # round 0 warms up
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in order:
                directory = os.path.join(root, f"{round_}-{list(variants).index(name)}")
                start = time.perf_counter()
                tuner = variants[name](directory)
                elapsed = time.perf_counter() - start
                if round_:
                    times[name].append(elapsed)
                trial_bytes[name] = bytes_per_trial(directory, args.trials)
                print(f"round {round_} {name}: {elapsed:.2f} s", flush=True)
                if name == "ktb tune" and round_ == args.rounds:
                    last_ours = tuner  # Inspected below, after every timed run.
                else:
                    shutil.rmtree(directory, ignore_errors=True)
        # Inspecting the winner between timed runs would load the next one
        # with its work; it is timed here, on the last search, three times
        # (it is idempotent).
        for _ in range(3):
            start = time.perf_counter()
            best_dir = last_ours.inspect_best()
            inspections.append((time.perf_counter() - start, tree_bytes(best_dir)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:>26}: median {median:.2f} s over {args.rounds} rounds, "
              f"{trial_bytes[name] / 1e6:.3f} MB per trial")
    for name in list(variants)[1:]:
        ratio = medians[name] / medians["bare keras-tuner"]
        size = trial_bytes[name] / trial_bytes["bare keras-tuner"]
        # Each round runs the variants back to back, so the ratio within a
        # round is not moved by the machine getting faster or slower.
        paired = [a / b for a, b in zip(times[name], times["bare keras-tuner"])]
        print(f"ratio {name} / bare keras-tuner: time {ratio:.3f} (goal <= 1.05), "
              f"bytes per trial {size:.3f} (goal <= 1.2); within rounds: median "
              f"{statistics.median(paired):.3f}, "
              f"{min(paired):.3f} to {max(paired):.3f}")
    seconds = statistics.median(s for s, _ in inspections)
    print(f"best/ inspection, once per search: median {seconds:.2f} s, "
          f"{inspections[-1][1] / 1e6:.2f} MB (best_model.keras included)")


def tree_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path)
               for f in names)


def bytes_per_trial(directory, trials):
    """Bytes the search wrote per trial: trial directories and TensorBoard logs.

    keras-tuner keeps its trial directories (checkpoint of the best epoch,
    trial.json) below the project; bare keras-tuner's TensorBoard writes
    below `tb/`, ours into the trial directories.
    """
    total = 0
    for project in os.listdir(directory):
        for entry in os.listdir(os.path.join(directory, project)):
            if entry.startswith("trial_"):
                total += tree_bytes(os.path.join(directory, project, entry))
    total += tree_bytes(os.path.join(directory, "tb"))
    return total / trials


if __name__ == "__main__":
    main()
