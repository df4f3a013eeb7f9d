"""Keras callbacks that write what training does as TensorBoard data.

Each callback takes the run directory as `log_dir` and writes with the layout
of `keras.callbacks.TensorBoard` (`train/`, `validation/`), so both can share
one run directory. This package needs only tensorflow, keras, tensorboard and
matplotlib; it never imports the `toolkit` application.

Example:

```python
from keras_tb_toolkit.callbacks import EmbeddingProjector, ModelInfoLogger

model.fit(
    x_train, y_train, epochs=3,
    callbacks=[
        keras.callbacks.TensorBoard("logs/run1", write_graph=False),
        ModelInfoLogger("logs/run1"),
        EmbeddingProjector("logs/run1", data=x_test[:500], labels=y_test[:500]),
    ],
)
```
"""

from .batch_profiler import BatchProfiler, profile_plugin_installed
from .checkpoint import (
    Checkpoint,
    CheckpointCorruptError,
    CheckpointWriteError,
    ResumeState,
)
from .confusion_matrix_logger import ConfusionMatrixLogger
from .embedding_projector import EmbeddingProjector
from .grad_cam_logger import GradCAMLogger
from .histogram_logger import HistogramLogger
from .history_plotter import HistoryPlotter, plot_history
from .layout_writer import LayoutWriter
from .live_plot import LivePlot
from .mistakes_logger import MistakesLogger
from .model_info_logger import ModelInfoLogger
from .pr_curve_logger import PRCurveLogger
from .scalar_logger import ScalarLogger
from ._writable import LogDirError

__all__ = [
    "BatchProfiler",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointWriteError",
    "ConfusionMatrixLogger",
    "EmbeddingProjector",
    "GradCAMLogger",
    "HistogramLogger",
    "HistoryPlotter",
    "LayoutWriter",
    "LivePlot",
    "LogDirError",
    "MistakesLogger",
    "ModelInfoLogger",
    "PRCurveLogger",
    "ResumeState",
    "ScalarLogger",
    "plot_history",
    "profile_plugin_installed",
]
