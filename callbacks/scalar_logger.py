"""Metrics, learning rate and throughput as TensorBoard scalars, live."""

import time

import keras
import tensorflow as tf

from ._summary import RunWriters, is_chief, optimizer_steps
from ._validation import check_int_at_least, check_log_dir, check_positive_int

__all__ = ["ScalarLogger"]


class ScalarLogger(keras.callbacks.Callback):
    """Writes the training metrics, learning rate and throughput as scalars.

    Every metric in the epoch logs goes to `<log_dir>/train` as
    `epoch_<name>`, and every `val_<name>` to `<log_dir>/validation` as
    `epoch_<name>`: the tags of `keras.callbacks.TensorBoard`, so the Scalars
    dashboard looks the same. To `train/` it adds `epoch_learning_rate`,
    `epoch_steps_per_second`, `epoch_examples_per_second` (when
    `batch_size` is given) and, where the device reports memory (GPUs),
    `epoch_peak_memory_mb`. The step is the epoch, 0-based.

    Unlike `keras.callbacks.TensorBoard` it flushes after every epoch and
    shares one events file per directory with the other callbacks of this
    package, so TensorBoard started before training shows every curve
    advance while it runs.

    Throughput is timed from the start of the epoch to the start of its
    validation (or to its end, without validation), so evaluation time does
    not count against it.

    With an integer `update_freq`, the metrics of every `update_freq`-th
    batch are also written as `batch_<name>` (with `batch_learning_rate`)
    at the optimizer step, as `keras.callbacks.TensorBoard` does.

    Args:
        log_dir: The run directory.
        update_freq: `"epoch"`, or write batch-level scalars every
            `update_freq` batches as well. Defaults to `"epoch"`.
        batch_size: The global batch size, for examples per second; None
            writes steps per second only. Defaults to `None`.

    Raises:
        TypeError: If `log_dir` is not a path.
        ValueError: If `update_freq` is neither `"epoch"` nor a positive
            integer, or `batch_size` is not a positive integer.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import ScalarLogger

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((16, 4)), np.ones((16, 1))
    model.fit(x, y, batch_size=8, validation_data=(x, y), epochs=2, verbose=0,
              callbacks=[ScalarLogger("logs/scalars", batch_size=8)])
    ```
    """

    def __init__(self, log_dir, update_freq="epoch", batch_size=None):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        if update_freq != "epoch":
            update_freq = check_int_at_least(update_freq, "update_freq", 1, "'epoch' or ")
        self.update_freq = update_freq
        self.batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
        self._writers = RunWriters(self.log_dir)
        self._reset()

    def _reset(self):
        self._epoch_start = None
        self._train_seconds = None
        self._steps_at_epoch_start = None
        self._batches = 0

    def on_train_begin(self, logs=None):
        self._reset()
        if is_chief(self.model):
            self._writers.hold("train", "validation")
        if tf.config.list_logical_devices("GPU"):
            _reset_peak_memory()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._train_seconds = None
        self._steps_at_epoch_start = optimizer_steps(self.model)
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq == "epoch" or (batch + 1) % self.update_freq:
            return
        if not is_chief(self.model):
            return
        step = optimizer_steps(self.model)
        step = self._batches if step is None else step
        scalars = _numbers(logs)
        scalars.setdefault("learning_rate", self._learning_rate())
        with self._writers.writing("train"):
            for name, value in scalars.items():
                if value is not None:
                    tf.summary.scalar(f"batch_{name}", value, step=step)

    def on_test_begin(self, logs=None):
        # fit() validates after the epoch's training steps: stop the clock.
        if self._epoch_start is not None and self._train_seconds is None:
            self._train_seconds = time.perf_counter() - self._epoch_start

    def on_epoch_end(self, epoch, logs=None):
        if not is_chief(self.model):
            return
        scalars = _numbers(logs)
        train = {k: v for k, v in scalars.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in scalars.items() if k.startswith("val_")}
        train.setdefault("learning_rate", self._learning_rate())
        train.update(self._throughput())
        train.update(_peak_memory())
        for subdir, values in (("train", train), ("validation", validation)):
            if not values:
                continue
            with self._writers.writing(subdir):
                for name, value in values.items():
                    if value is not None:
                        tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        self._writers.flush()

    def on_train_end(self, logs=None):
        self._writers.close()

    def _learning_rate(self):
        optimizer = getattr(self.model, "optimizer", None)
        rate = getattr(optimizer, "learning_rate", None)
        if rate is None:
            return None
        try:
            return float(keras.ops.convert_to_numpy(rate))
        except (TypeError, ValueError):
            return None  # A schedule object the optimizer never evaluated.

    def _throughput(self):
        if self._epoch_start is None:
            return {}
        seconds = self._train_seconds
        if seconds is None:
            seconds = time.perf_counter() - self._epoch_start
        steps = optimizer_steps(self.model)
        if steps is not None and self._steps_at_epoch_start is not None:
            steps -= self._steps_at_epoch_start
        else:
            steps = self._batches
        if not steps or seconds <= 0:
            return {}
        rates = {"steps_per_second": steps / seconds}
        if self.batch_size is not None:
            rates["examples_per_second"] = steps * self.batch_size / seconds
        return rates


def _numbers(logs):
    """The scalar numbers of `logs` as floats; other values are skipped."""
    numbers = {}
    for name, value in (logs or {}).items():
        try:
            array = keras.ops.convert_to_numpy(value)
        except Exception:  # Any object may sit in a custom loop's logs.
            continue
        if getattr(array, "shape", None) == () and array.dtype.kind in "fiub":
            numbers[name] = float(array)
    return numbers


def _gpu_names():
    return [device.name.replace("/device:", "") for device in tf.config.list_logical_devices("GPU")]


def _reset_peak_memory():
    for name in _gpu_names():
        try:
            tf.config.experimental.reset_memory_stats(name)
        except (ValueError, RuntimeError):
            pass  # This device keeps no statistics.


def _peak_memory():
    """`{"peak_memory_mb": ...}`, the largest peak over the GPUs, or {}."""
    peaks = []
    for name in _gpu_names():
        try:
            peaks.append(tf.config.experimental.get_memory_info(name)["peak"])
        except (ValueError, RuntimeError):
            continue
    if not peaks:
        return {}
    _reset_peak_memory()
    return {"peak_memory_mb": max(peaks) / 2**20}
