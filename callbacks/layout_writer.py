"""`LayoutWriter`: a Custom Scalars layout that puts related curves on one
chart, with no hand configuration in TensorBoard."""

import re

import keras
import tensorflow as tf
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import summary as layout_summary

from ._copying import CopiesConfiguration
from ._summary import RunWriters, is_chief
from ._validation import check_log_dir, check_names

__all__ = ["LayoutWriter"]

# Logs entries that are not metrics of the model; the learning rate has its
# own chart, next to the gradient norm.
_NOT_METRICS = ("learning_rate", "compile_metrics")
# Tags written by `HistogramLogger` to `train/` at the epoch step, and by
# `keras.callbacks.TensorBoard` (or `ScalarLogger`) for the learning rate.
_GRADIENT_NORM_TAGS = (r"^gradient_norm$", r"^epoch_learning_rate$")
_UPDATE_RATIO_TAGS = (r"^update_ratio/",)


def scalars_layout(metrics):
    """The layout: one chart per metric holding its `train/` and
    `validation/` curves (both runs write `epoch_<metric>`), the gradient
    norm with the learning rate, and every layer's update ratio together."""
    metric_charts = [
        layout_pb2.Chart(
            title=metric,
            multiline=layout_pb2.MultilineChartContent(
                tag=[rf"^epoch_{re.escape(metric)}$"]),
        )
        for metric in metrics
    ]
    optimisation_charts = [
        layout_pb2.Chart(
            title="gradient_norm and learning_rate",
            multiline=layout_pb2.MultilineChartContent(
                tag=list(_GRADIENT_NORM_TAGS)),
        ),
        layout_pb2.Chart(
            title="update_ratio per layer",
            multiline=layout_pb2.MultilineChartContent(
                tag=list(_UPDATE_RATIO_TAGS)),
        ),
    ]
    return layout_pb2.Layout(category=[
        layout_pb2.Category(title="train and validation",
                            chart=metric_charts),
        layout_pb2.Category(title="optimisation", chart=optimisation_charts),
    ])


def logged_metrics(logs):
    """The metric names of epoch logs: `loss` for `loss` and `val_loss`."""
    names = []
    for key in logs or {}:
        name = key[len("val_"):] if key.startswith("val_") else key
        if name not in _NOT_METRICS and name not in names:
            names.append(name)
    return names


def model_metrics(model):
    """The metric names the model knows before its first epoch (`loss`,
    and compiled metrics once Keras has built them)."""
    names = []
    for metric in getattr(model, "metrics", None) or []:
        inner = getattr(metric, "metrics", None)
        for item in (inner if isinstance(inner, list) else [metric]):
            name = getattr(item, "name", None)
            if name and name not in _NOT_METRICS and name not in names:
                names.append(name)
    return names or ["loss"]


class LayoutWriter(CopiesConfiguration, keras.callbacks.Callback):
    """Writes a Custom Scalars layout that groups the run's curves.

    TensorBoard's Scalars dashboard draws each tag of each run on its own
    chart; the Custom Scalars dashboard draws on one chart every tag that a
    regular expression matches, in every run. When training begins this
    callback writes to `<log_dir>/train` (tag `custom_scalars__config__`) a
    layout of two categories:

    - "train and validation": for each metric `<m>`, one chart of the
      regex `^epoch_<m>$`, i.e. the `train/` and `validation/` curves that
      `keras.callbacks.TensorBoard` (or `ScalarLogger`) writes;
    - "optimisation": `gradient_norm and learning_rate` (regexes
      `^gradient_norm$` and `^epoch_learning_rate$`, from `HistogramLogger`
      and the scalar logger), and `update_ratio per layer` (regex
      `^update_ratio/`, every layer's `HistogramLogger` update ratio).

    Without `metrics`, the names are those the model knows when training
    begins; compiled metrics are only known to Keras after the first step,
    so after the first epoch the layout is written again if the epoch logs
    name metrics it lacks. The dashboard shows the last layout written.

    Args:
        log_dir: The run directory (the one given to
            `keras.callbacks.TensorBoard`).
        metrics: Name or names of the metrics to chart (without `val_`),
            or None to find them. Defaults to `None`.

    Raises:
        TypeError: If `log_dir` is not a path or `metrics` is not None, a
            string or a sequence of strings.
        ValueError: If `metrics` repeats a name or names the learning rate,
            which has its own chart.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_tb_toolkit.callbacks import LayoutWriter

    x, y = np.random.rand(16, 4), np.random.randint(0, 2, size=16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[
        keras.callbacks.TensorBoard("logs/layout"),
        LayoutWriter("logs/layout")])
    ```
    """

    def __init__(self, log_dir, metrics=None):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        self.metrics = check_names(metrics, "metrics")
        if self.metrics and len(set(self.metrics)) != len(self.metrics):
            raise ValueError(
                f"`metrics` must not repeat a name, received: {metrics!r}")
        if self.metrics and set(self.metrics) & set(_NOT_METRICS):
            raise ValueError(
                f"`metrics` must name model metrics, not "
                f"{sorted(set(self.metrics) & set(_NOT_METRICS))} (the "
                f"learning rate has its own chart), received: {metrics!r}")
        # Steps of the layouts written by this instance only grow, so that
        # the newest layout is also the last point TensorBoard keeps.
        self._layouts_written = 0
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        return {"_writers": RunWriters(self.log_dir), "_charted": None,
                "_first_epoch": True}

    def on_train_begin(self, logs=None):
        self._writers.close()
        if is_chief(self.model):
            self._writers.hold("train")
        self._charted = None
        self._first_epoch = True
        self._write(list(self.metrics or model_metrics(self.model)))

    def on_epoch_end(self, epoch, logs=None):
        if not self._first_epoch or self.metrics:
            return
        self._first_epoch = False
        missing = [name for name in logged_metrics(logs)
                   if name not in self._charted]
        if missing:
            self._write(self._charted + missing)

    def on_train_end(self, logs=None):
        self._writers.close()

    def _write(self, metrics):
        self._charted = metrics
        if not is_chief(self.model):
            return
        summary = layout_summary.pb(scalars_layout(metrics))
        with self._writers.writing("train"):
            tf.summary.experimental.write_raw_pb(
                summary.SerializeToString(), step=self._layouts_written)
        self._layouts_written += 1
        self._writers.flush()
