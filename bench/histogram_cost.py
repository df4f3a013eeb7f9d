"""What `HistogramLogger` costs: per histogram, per epoch end, per step, per trace.

Four figures, each the median of `--rounds` alternated measurements:

1. One histogram's counts of a tensor, read back and bucketed in NumPy,
   against the traced TensorFlow bucketing, for three tensor sizes
   (`_buckets` uses NumPy for every tensor in host memory, and for up to
   `HOST_LIMIT` values on an accelerator).
2. One epoch-end write of a `HistogramLogger` with activations (weights,
   gradients, update ratios and the activations of 128 images) on the
   Sequential CNN of `ktb train`, as it is, against the TensorFlow way
   forced for every tensor.
3. The gradient capture's cost per training step: `optimizer.apply` in a
   `tf.function` alone, with the capture of gradients only, and with the
   copy of the weights before the step that update ratios need.
4. The capture's share of tracing that step (once per `fit`, or twice when
   the last batch is smaller, so once or twice per trial of a search).

Usage (from the repository root):

    python bench/histogram_cost.py --rounds 7
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_tb_toolkit.callbacks import HistogramLogger  # noqa: E402
from keras_tb_toolkit.callbacks.histogram_logger import _buckets, _gradient_capture  # noqa: E402
from keras_tb_toolkit.toolkit import models  # noqa: E402


def median_ms(function, rounds, calls):
    """Median over `rounds` of the mean time of `calls` calls, in ms."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(times)


def alternated(variants, rounds, calls):
    """`median_ms` of each variant, the variants alternating round by round."""
    times = {name: [] for name in variants}
    for round_ in range(rounds):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            times[name].append(median_ms(variants[name], 1, calls))
    return {name: statistics.median(t) for name, t in times.items()}


def bucketing(rounds):
    rng = np.random.default_rng(0)
    for shape in [(3, 3, 1, 16), (3136, 32), (128, 64, 64), (128, 28, 28, 16)]:
        tensor = tf.constant(rng.normal(size=shape).astype(np.float32))
        flat = tf.reshape(tensor, [-1])
        result = alternated({
            "numpy": lambda: _buckets._host_counts(tensor),
            "tensorflow": lambda: [t.numpy() for t in _buckets._device_counts(flat)],
        }, rounds, calls=20)
        print(f"1. histogram of {int(np.prod(shape)):>9,} values: NumPy "
              f"{result['numpy']:.3f} ms, traced TensorFlow {result['tensorflow']:.3f} ms")


def epoch_end_write(rounds):
    keras.utils.set_random_seed(0)
    model = models.build_model("sequential")
    x = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
    y = np.arange(256) % 10
    on_host = _buckets._on_host
    result = {}

    class Timed(HistogramLogger):
        """Times its epoch-end write both ways, at the end of training's
        one epoch, while the last step's gradients are captured."""

        def on_epoch_end(self, epoch, logs=None):
            step = iter(range(1, 10**6))

            def write(where):
                _buckets._on_host = on_host if where == "as is" else (lambda data: False)
                self._steps_at_last_log = {}  # Gradients are written again.
                try:
                    self._write(next(step), "")
                finally:
                    _buckets._on_host = on_host

            result.update(alternated({
                "as is": lambda: write("as is"),
                "tensorflow": lambda: write("tensorflow"),
            }, rounds, calls=3))

    callback = Timed(tempfile.mkdtemp(prefix="ktb-histogram-cost-"), sample=x[:128])
    model.fit(x, y, epochs=1, batch_size=128, verbose=0, callbacks=[callback])
    print(f"2. epoch-end write with activations, Sequential CNN: as is "
          f"{result['as is']:.1f} ms, TensorFlow forced {result['tensorflow']:.1f} ms")


def per_step(rounds):
    keras.utils.set_random_seed(0)
    model = models.build_model("sequential")
    variables = model.trainable_variables
    grads = [tf.random.normal(v.shape) * 1e-6 for v in variables]
    variants = {"apply alone": None, "gradients captured": False,
                "gradients and weights before": True}
    steps, traces = {}, {name: [] for name in variants}
    for round_ in range(3):  # Traced three times each, alternated.
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            function = tf.function(_step(variables, grads, variants[name]))
            start = time.perf_counter()
            function.get_concrete_function()
            traces[name].append((time.perf_counter() - start) * 1e3)
            function()
            steps[name] = function
    result = alternated(steps, rounds, calls=200)
    params = sum(int(np.prod(v.shape)) for v in variables)
    print(f"3. per step, {params:,} trainable values: " + ", ".join(
        f"{name} {ms:.3f} ms" for name, ms in result.items()))
    print("4. tracing that step once (median of 3): " + ", ".join(
        f"{name} {statistics.median(ms):.0f} ms" for name, ms in traces.items()))


def _step(variables, grads, track):
    """`optimizer.apply` on a new SGD, through a new capture unless `track`
    is None (`track`: whether the weights before the step are kept)."""
    optimizer = keras.optimizers.SGD(1e-3)
    optimizer.build(variables)
    if track is None:
        return lambda: optimizer.apply(grads, variables)
    capture = _gradient_capture.GradientCapture(
        optimizer, tf.distribute.get_strategy(), track_updates=track)
    capture.prepare(variables)
    return lambda: capture.around_apply(
        lambda g: optimizer.apply(g, variables), optimizer, grads, variables)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    bucketing(args.rounds)
    epoch_end_write(args.rounds)
    per_step(args.rounds)


if __name__ == "__main__":
    main()
