"""A trace of chosen training batches, for TensorBoard's Profile dashboard."""

import importlib.metadata
import numbers
import warnings

import keras
import tensorflow as tf

from . import _fs
from ._summary import is_chief
from ._validation import check_log_dir
from ._writable import prove_writable

__all__ = ["BatchProfiler", "profile_plugin_installed"]

PROFILE_EXTRA = 'pip install "keras-tb-toolkit[profile]"'


def profile_plugin_installed():
    """Whether TensorBoard has its Profile dashboard (`tensorboard-plugin-profile`).

    The traces are written either way; without the plugin TensorBoard does
    not show them.

    Example:

    ```python
    from keras_tb_toolkit.callbacks import profile_plugin_installed

    if not profile_plugin_installed():
        print('For the Profile dashboard: pip install "keras-tb-toolkit[profile]"')
    ```
    """
    plugins = importlib.metadata.entry_points(group="tensorboard_plugins")
    return any(plugin.name == "profile" for plugin in plugins)


class BatchProfiler(keras.callbacks.Callback):
    """Traces training batches `start` to `stop` with TensorFlow's profiler.

    The trace goes to `<log_dir>/train/plugins/profile/<time>/`, where
    TensorBoard's Profile dashboard (from the `tensorboard-plugin-profile`
    package, the `[profile]` extra of this toolkit) shows it as the run
    `<log_dir>/train`: the trace viewer, the op profile, the input-pipeline
    analysis. Batches are numbered from 1 across the epochs of one `fit()`
    (Keras' `profile_batch` convention), so `batches=(10, 12)` skips the
    first batches, which trace and compile the training function. Each
    `fit()` is profiled once; only the chief process profiles.

    Args:
        log_dir: The run directory.
        batches: The batch to profile, or a `(start, stop)` pair of batches,
            inclusive. Defaults to `(2, 4)`.

    Raises:
        TypeError: If `log_dir` is not a path.
        ValueError: If `batches` is not a positive integer or a pair of
            positive integers with `start <= stop`.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import BatchProfiler

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((32, 4)), np.ones((32, 1))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[BatchProfiler("logs/profiled", batches=(2, 3))])
    ```
    """

    def __init__(self, log_dir, batches=(2, 4)):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        self.start, self.stop = _check_batches(batches)
        self._batch = 0
        self._profiling = False

    def on_train_begin(self, logs=None):
        self._batch = 0
        self._profiling = False
        if is_chief(self.model):
            prove_writable(_fs.join(self.log_dir, "train"))

    def on_train_batch_begin(self, batch, logs=None):
        self._batch += 1
        if self._batch == self.start and is_chief(self.model):
            try:
                tf.profiler.experimental.start(_fs.join(self.log_dir, "train"))
            except (tf.errors.AlreadyExistsError, tf.errors.UnavailableError) as error:
                warnings.warn(
                    f"BatchProfiler: another profiler is running in this process, "
                    f"batches {self.start}-{self.stop} are not traced: {error}",
                    stacklevel=2,
                )
                return
            self._profiling = True

    def on_train_batch_end(self, batch, logs=None):
        if self._profiling and self._batch >= self.stop:
            self._stop()

    def on_train_end(self, logs=None):
        # A fit() shorter than `stop` batches still leaves its trace.
        if self._profiling:
            self._stop()

    def _stop(self):
        self._profiling = False
        tf.profiler.experimental.stop()


def _check_batches(batches):
    if isinstance(batches, numbers.Integral) and not isinstance(batches, bool):
        batches = (batches, batches)
    pair = tuple(batches) if isinstance(batches, (tuple, list)) else None
    if (
        pair is None
        or len(pair) != 2
        or not all(isinstance(b, numbers.Integral) and not isinstance(b, bool) for b in pair)
        or not 1 <= pair[0] <= pair[1]
    ):
        raise ValueError(
            "`batches` must be a batch number >= 1 or a pair (start, stop) with "
            f"1 <= start <= stop, received: {batches!r}"
        )
    return int(pair[0]), int(pair[1])
