"""Epoch time of `ktb train`'s input pipeline against plain `fit` on numpy arrays.

The seeds train with `model.fit(x_train / 255.0, y_train, batch_size=128)`.
This script trains the same Sequential CNN both ways in one process,
alternating the two variants round after round (the order flips each round),
and prints the median epoch time of each and their ratio (goal: ours <= 1.0x).

Usage (from the repository root):

    python bench/throughput.py --data ../shared/data/mnist.npz --rounds 5
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tb_toolkit.toolkit import data, models  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist.npz")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    pipelines = data.load_data(args.data, batch_size=args.batch_size, epochs=1)
    arrays = pipelines.arrays
    x_train = (arrays.x_train / 255.0).astype("float32")[..., np.newaxis]
    y_train = arrays.y_train

    keras.utils.set_random_seed(0)
    ours = models.build_model("sequential")
    theirs = models.build_model("sequential")
    theirs.set_weights(ours.get_weights())

    def run_ours():
        ours.fit(pipelines.train, epochs=1, steps_per_epoch=pipelines.steps_per_epoch,
                 shuffle=False, verbose=0)

    def run_theirs():
        theirs.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, verbose=0)

    variants = {"ktb pipeline": run_ours, "numpy fit": run_theirs}
    for run in variants.values():  # warm up: trace the train functions
        run()
    times = {name: [] for name in variants}
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in variants), flush=True)

    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"median epoch time, {name}: {value:.2f} s ({len(x_train)} images, batch {args.batch_size})")
    ratio = medians["ktb pipeline"] / medians["numpy fit"]
    print(f"ratio ktb pipeline / numpy fit: {ratio:.3f}x (goal <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
