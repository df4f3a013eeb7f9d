"""Time `ktb report` on 100 runs x 20 epochs: reading, then drawing.

Writes `--runs` runs of `--epochs` epochs with `tf.summary` into a temporary
directory, in the layout of `keras.callbacks.TensorBoard` (`<run>/train` and
`<run>/validation`, scalars `epoch_loss` and `epoch_accuracy`; with
`--histograms`, also a 1000-value histogram per epoch in `train`, as the
histogram callback writes). It then times, in one process, the reading
(`toolkit.report.read_logdir`, TensorBoard's event multiplexer) with one
thread (the default) and with `--threads` threads, and the drawing and writing of
the PNG (`report_figure` + the callbacks' `save_figure`); medians of
`--rounds` rounds.
The one-time import of TensorFlow and TensorBoard is timed apart. Goal:
reading under 10 s.

Usage (from the repository root):

    python bench/report_read.py --runs 100 --epochs 20 --rounds 3
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_runs(root, runs, epochs, histograms):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for run in range(runs):
        for subset in ("train", "validation"):
            path = os.path.join(root, "bench", f"run_{run:03d}", subset)
            with tf.summary.create_file_writer(path).as_default():
                for epoch in range(epochs):
                    tf.summary.scalar("epoch_loss", 1.0 / (epoch + 1 + run), step=epoch)
                    tf.summary.scalar("epoch_accuracy", rng.random(), step=epoch)
                    if histograms and subset == "train":
                        tf.summary.histogram("dense/kernel", rng.normal(size=1000), step=epoch)


def timed(function, rounds):
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--histograms", action="store_true")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    start = time.perf_counter()
    import tensorflow  # noqa: F401
    from tensorboard.backend.event_processing import plugin_event_multiplexer  # noqa: F401

    from keras_tb_toolkit.callbacks._figures import save_figure
    from keras_tb_toolkit.toolkit import report

    import_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        write_runs(root, args.runs, args.epochs, args.histograms)
        write_s = time.perf_counter() - start
        read_s, data = timed(lambda: report.read_logdir(root), args.rounds)
        threaded_s, _ = timed(
            lambda: report.read_logdir(root, threads=args.threads), args.rounds
        )
        metric = report.choose_metric(data)
        out = os.path.join(root, "report.png")
        draw_s, _ = timed(
            lambda: save_figure(report.report_figure(data, metric), out), args.rounds
        )
        records = len(data.records())

    print(f"runs x epochs            {args.runs} x {args.epochs} "
          f"({records} scalars read{', + histograms' if args.histograms else ''})")
    print(f"import TF+TensorBoard    {import_s:6.2f} s (once per process)")
    print(f"write logs               {write_s:6.2f} s")
    print(f"read (default, 1 thread) {read_s:6.2f} s  (goal < 10 s)")
    print(f"read ({args.threads} threads)        {threaded_s:6.2f} s")
    print(f"draw + write PNG         {draw_s:6.2f} s")


if __name__ == "__main__":
    main()
