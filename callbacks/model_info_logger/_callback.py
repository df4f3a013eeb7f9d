"""`ModelInfoLogger`: model summary, parameter counts and graph."""

import warnings
import weakref

import keras
import tensorflow as tf

from .. import _summary
from .. import _validation
from .._copying import CopiesConfiguration
from . import _graph

SUMMARY_TAG = "model/summary"
PARAMS_TAG = "model/params/"


class ModelInfoLogger(CopiesConfiguration, keras.callbacks.Callback):
    """Writes a model's summary, parameter counts and graph to TensorBoard.

    Into `<log_dir>/train`, once the model is built, flushed to disk at
    once so TensorBoard shows it while training runs:

    - Text `model/summary`: `model.summary()` as a Markdown code block.
    - Scalars `model/params/trainable`, `model/params/non_trainable` and
      `model/params/total` (the model's weights, not the optimizer's).
    - A graph for the Graphs dashboard (run `train`): the inference forward
      pass `model(x, training=False)` traced as a `tf.function`, for
      Sequential, Functional and subclassed models alike (Keras'
      `TensorBoard` draws none for subclassed models). If Keras'
      `TensorBoard` also writes one into the run, pass it
      `write_graph=False`: the Graphs dashboard shows one graph per run.

    Each model is described once per instance: a second `fit()` of the same
    model writes nothing more. Summaries use step 0 for the first model
    this instance describes, 1 for the next one, and so on.

    Models built before training starts (with an `Input`, or under a
    `tf.distribute` strategy) are described in `on_train_begin`. Otherwise
    the first training step builds the model and the description is
    written at the start of the second batch (the first epoch's end or the
    end of training when there is no second batch); no per-batch work is
    done afterwards. The graph needs the input shape: it is read from
    `model.inputs`, from the shape a subclassed model was built with, or
    from `input_shape`; when none is known, one warning says so and the
    rest is still written.

    Args:
        log_dir: The run directory, shared with `keras.callbacks.TensorBoard`.
        input_shape: Shape of one input example, without the batch axis,
            used to trace the graph of a model whose input shape Keras does
            not record (a subclassed model with several inputs, say).
            Defaults to `None`.
        write_graph: Whether to write the graph. Defaults to `True`.

    Raises:
        TypeError: If `log_dir` is not a path or `write_graph` is not a bool.
        ValueError: If `input_shape` is not a tuple of positive integers
            (or None for a free axis).

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import ModelInfoLogger

    x = np.random.rand(8, 8).astype("float32")
    y = np.random.rand(8, 1).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[ModelInfoLogger("logs/run")])
    ```
    """

    def __init__(self, log_dir, input_shape=None, write_graph=True):
        super().__init__()
        self.log_dir = _validation.check_log_dir(log_dir)
        self.input_shape = _check_input_shape(input_shape)
        self.write_graph = _validation.check_bool(write_graph, "write_graph")
        self._writers = _summary.RunWriters(self.log_dir)
        self._described = []
        self._pending = False

    def on_train_begin(self, logs=None):
        self._pending = _summary.is_chief(self.model) and not any(
            ref() is self.model for ref in self._described
        )
        if self._pending:
            self._writers.hold("train")
        self._describe_if_built()

    def on_train_batch_begin(self, batch, logs=None):
        if self._pending and batch > 0:
            self._describe_if_built()

    def on_epoch_end(self, epoch, logs=None):
        self._describe_if_built()

    def on_train_end(self, logs=None):
        self._describe_if_built()
        self._pending = False
        self._writers.close()

    def _describe_if_built(self):
        if not self._pending or not self.model.built:
            return
        self._pending = False
        model = self.model
        step = len(self._described)
        self._described.append(weakref.ref(model))
        with self._writers.writing("train", step=step):
            tf.summary.text(SUMMARY_TAG, _graph.summary_markdown(model))
            for name, count in _graph.parameter_counts(model).items():
                tf.summary.scalar(PARAMS_TAG + name, count)
            if self.write_graph:
                graph = self._graph(model)
                if graph is not None:
                    tf.summary.graph(graph)
        self._writers.flush()

    def _graph(self, model):
        signature = _graph.input_signature(model, self.input_shape)
        if signature is None:
            warnings.warn(
                f"ModelInfoLogger cannot tell the input shape of model "
                f"{model.name!r}, so no graph is written; pass "
                f"`input_shape=` (one example's shape, without the batch "
                f"axis).",
                stacklevel=3,
            )
            return None
        try:
            return _graph.forward_graph(model, signature)
        except Exception as error:  # pylint: disable=broad-except
            # A graph is a nicety: never stop training for it.
            warnings.warn(
                f"ModelInfoLogger could not trace model {model.name!r} on "
                f"{signature}, so no graph is written: {error}",
                stacklevel=3,
            )
            return None


def _check_input_shape(input_shape):
    if input_shape is None:
        return None
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if not shape or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
        for d in shape
    ):
        raise ValueError(
            "`input_shape` must be None or the shape of one example without "
            "the batch axis, a tuple of positive integers (None for a free "
            f"axis), received: {input_shape!r}"
        )
    return shape
