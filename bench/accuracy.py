"""Test accuracy of the three API styles as `ktb train` trains them.

Usage (from the repository root; about 30 minutes on 2 CPU cores):

    python bench/accuracy.py --data ../shared/data/mnist.npz --epochs 15

Prints one row per API style and the seeds' reference figures beside it.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_tb_toolkit.toolkit import training  # noqa: E402
from keras_tb_toolkit.toolkit.config import API_STYLES, TrainConfig  # noqa: E402

SEEDS_REPORT = {"sequential": 0.9912, "functional": 0.9919, "subclassed": 0.9910}
GOAL = 0.991


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist.npz")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api", nargs="+", default=list(API_STYLES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as logdir:
        for api in args.api:
            config = TrainConfig(
                api=api, data=args.data, epochs=args.epochs,
                batch_size=args.batch_size, seed=args.seed, logdir=logdir,
            )
            start = time.perf_counter()
            result = training.train(config, verbose=2)
            elapsed = time.perf_counter() - start
            rows.append((api, result.test_accuracy, elapsed))
            print(f"{api}: test accuracy {result.test_accuracy:.4f} in {elapsed:.0f} s", flush=True)
    print()
    print(f"| API style | test accuracy ({args.epochs} epochs, batch {args.batch_size}) | seeds report | goal | wall time |")
    print("|---|---|---|---|---|")
    for api, accuracy, elapsed in rows:
        verdict = "pass" if accuracy >= GOAL else "FAIL"
        print(f"| {api} | {accuracy:.4f} | {SEEDS_REPORT.get(api, float('nan')):.4f} | >= {GOAL} ({verdict}) | {elapsed / 60:.1f} min |")
    return 0 if all(a >= GOAL for _, a, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
