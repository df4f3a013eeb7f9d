"""What the whole default callback set costs the training loop.

The seeds' Sequential CNN on MNIST, batch 128, with validation data, trained
two ways in one process: a bare `fit`, and a `fit` with the set `ktb train`
attaches (`toolkit.training.build_callbacks`, so the bench cannot drift from
it): Checkpoint, ScalarLogger, LayoutWriter, ModelInfoLogger,
HistogramLogger (weights, gradients and activations every epoch),
HistoryPlotter, ConfusionMatrixLogger, PRCurveLogger, MistakesLogger,
GradCAMLogger and EmbeddingProjector. The variants alternate round by round
(the order flips each round); each round fits `--epochs` epochs per
variant. Prints the median epoch time of each, their ratio (goal <= 1.05),
the median whole-fit ratio (train begin/end work included), and the bytes
the callbacks write per epoch: TensorBoard data and plots, and checkpoints
apart (they replace the older ones, so they do not accumulate).

Usage (from the repository root):

    python bench/callback_overhead.py --data ../shared/data/mnist.npz --rounds 3 --epochs 2
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_tb_toolkit.toolkit import data, models, training  # noqa: E402

GOAL = 1.05


class EpochClock(keras.callbacks.Callback):
    """Placed first and last in the list: epoch time including every callback's work."""

    def __init__(self, times, role):
        super().__init__()
        self.times, self.role = times, role

    def on_epoch_begin(self, epoch, logs=None):
        if self.role == "first":
            self.times.append(-time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        if self.role == "last":
            self.times[-1] += time.perf_counter()


def directory_bytes(path, skip=None):
    """Bytes of the files below `path`, leaving out the folder `skip`."""
    return sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
        if skip is None or os.path.commonpath([d, skip]) != skip
        for f in files
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist.npz")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per variant per round")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    pipelines = data.load_data(args.data, batch_size=128, epochs=args.epochs, limit=args.limit)
    keras.utils.set_random_seed(0)
    bare_model = models.build_model("sequential")
    full_model = models.build_model("sequential")
    full_model.set_weights(bare_model.get_weights())
    log_dir = tempfile.mkdtemp(prefix="ktb-overhead-")
    checkpoints = os.path.join(log_dir, training.CHECKPOINT_DIR)
    full_set = training.build_callbacks(log_dir, pipelines, batch_size=128)
    print("callbacks: " + ", ".join(type(c).__name__ for c in full_set), flush=True)
    epoch_times = {"bare fit": [], "all callbacks": []}
    fit_times = {"bare fit": [], "all callbacks": []}

    def fit(name, model, extra, steps=pipelines.steps_per_epoch):
        clock = epoch_times[name]
        start = time.perf_counter()
        model.fit(
            pipelines.train, epochs=args.epochs, steps_per_epoch=steps,
            validation_data=pipelines.validation, shuffle=False, verbose=0,
            callbacks=[EpochClock(clock, "first"), *extra, EpochClock(clock, "last")],
        )
        fit_times[name].append(time.perf_counter() - start)

    variants = {
        "bare fit": lambda **kw: fit("bare fit", bare_model, [], **kw),
        "all callbacks": lambda **kw: fit("all callbacks", full_model, full_set, **kw),
    }
    for name, run in variants.items():  # warm up: trace, build figures, write the graph
        run(steps=3)
        epoch_times[name].clear()
        fit_times[name].clear()
    warm_bytes = directory_bytes(log_dir, skip=checkpoints)
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            variants[name]()
        print(f"round {round_ + 1}: " + ", ".join(
            f"{n} epochs {', '.join(f'{t:.2f}' for t in epoch_times[n][-args.epochs:])} s"
            for n in variants), flush=True)
    written = directory_bytes(log_dir, skip=checkpoints) - warm_bytes
    epochs_logged = args.rounds * args.epochs

    median = {n: statistics.median(t) for n, t in epoch_times.items()}
    fit_median = {n: statistics.median(t) for n, t in fit_times.items()}
    for name in variants:
        print(f"median epoch time, {name}: {median[name]:.3f} s "
              f"(whole fit of {args.epochs} epochs: {fit_median[name]:.2f} s)")
    print(f"epoch time ratio, all callbacks / bare fit: "
          f"{median['all callbacks'] / median['bare fit']:.3f}x (goal <= {GOAL})")
    print(f"whole-fit ratio (train begin/end work included): "
          f"{fit_median['all callbacks'] / fit_median['bare fit']:.3f}x")
    print(f"bytes written per epoch: {written / epochs_logged / 1e6:.2f} MB of "
          f"TensorBoard data and plots ({written} bytes over {epochs_logged} epochs, "
          f"in {log_dir}); checkpoints on disk: "
          f"{directory_bytes(checkpoints) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
