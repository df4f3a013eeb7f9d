"""`MistakesLogger`: the validation examples the model gets most confidently
wrong, as an image grid and a table in TensorBoard."""

import math

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from . import _class_scores
from . import _figures
from ._validation import check_positive_int

__all__ = ["MistakesLogger"]

# Inches per grid cell: room for an image and a two-line caption.
_CELL_INCHES = 1.8


def worst_mistakes(probabilities, labels, count):
    """The `count` misclassified examples with the highest confidence.

    Returns:
        (index, true class, predicted class, confidence) tuples, most
        confident first; ties go to the lower index, so the order is
        deterministic.
    """
    predicted = np.argmax(probabilities, axis=1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.lexsort((wrong, -confidence[wrong]))][:count]
    return [(int(i), int(labels[i]), int(predicted[i]), float(confidence[i]))
            for i in order]


def image_inputs(x):
    """`x` scaled to [0, 1] for display if it is one batch of images
    (n, h, w) or (n, h, w, 1|3|4), else None (features, several inputs)."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "uif":
        return None
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3, 4))):
        return None
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    low, high = (0.0, 255.0) if x.dtype == np.uint8 else (x.min(), x.max())
    return (x.astype(np.float32) - low) / max(high - low, 1e-12)


def mistakes_table(mistakes, names):
    """A Markdown table of the mistakes, for the Text dashboard."""
    rows = ["| rank | index | true | predicted | confidence |",
            "|---:|---:|---|---|---:|"]
    rows += [f"| {rank} | {index} | {names[true]} | {names[predicted]} | "
             f"{confidence:.3f} |"
             for rank, (index, true, predicted, confidence)
             in enumerate(mistakes, 1)]
    if not mistakes:
        rows.append("| - | - | - | - | no mistake |")
    return "\n".join(rows)


def mistakes_figure(mistakes, names, images, count, dpi=100):
    """A grid of `count` cells: each mistake's image (or, for inputs that
    are not images, its index), captioned with its true and predicted
    class and the confidence of the prediction."""
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(columns * _CELL_INCHES, rows * _CELL_INCHES),
                    dpi=dpi)
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    for cell, axes in enumerate(axes_grid.flat):
        axes.set_axis_off()
        if cell >= len(mistakes):
            continue
        index, true, predicted, confidence = mistakes[cell]
        if images is None:
            axes.text(0.5, 0.5, f"#{index}", ha="center", va="center",
                      fontsize=14, transform=axes.transAxes)
        else:
            axes.imshow(images[index], cmap="gray", vmin=0.0, vmax=1.0)
        axes.set_title(f"#{index} true: {names[true]}\npredicted: "
                       f"{names[predicted]} ({confidence:.2f})", fontsize=8)
    if not mistakes:
        figure.text(0.5, 0.5, "no mistake", ha="center", va="center")
    figure.tight_layout()
    return figure


class MistakesLogger(_class_scores.ClassifierLogger):
    """Shows the validation examples the model gets most confidently wrong.

    Every `freq` epochs (where `epoch % freq == 0`, step = epoch) it runs
    one forward pass over `validation_data`, keeps the `num_mistakes`
    misclassified examples whose predicted class has the highest
    probability, and writes to `<log_dir>/validation`:

    - the image `mistakes`: a grid with one cell per mistake, captioned
      `#<index> true: <class>` / `predicted: <class> (<confidence>)`; the
      cell shows the example when `x` is one array of images, (n, h, w) or
      (n, h, w, 1|3|4), and its index otherwise;
    - the text `mistakes_table`: the same mistakes as a Markdown table
      (rank, index, true, predicted, confidence).

    Outputs are read as `PRCurveLogger` reads them (softmax, logits, or
    one sigmoid unit for two classes), and checked the same way when
    training begins: a regression model fails before the first step.

    Args:
        log_dir: The run directory.
        validation_data: A tuple `(x, y)`: the examples to rank and their
            labels (class ids or one-hot). All of them are predicted at each
            logged epoch, so a few thousand at most.
        num_mistakes: How many mistakes to show. Defaults to `9`.
        freq: Log every `freq` epochs. Defaults to `1`.
        class_names: One name per class for the captions. None uses the
            class ids. Defaults to `None`.
        batch_size: Batch size of the forward pass. Defaults to `256`.
        dpi: Resolution of the image. Defaults to `100`.

    Raises:
        TypeError: If `log_dir`, `validation_data` or `class_names` has the
            wrong type.
        ValueError: If `num_mistakes`, `freq`, `batch_size` or `dpi` is not
            a positive integer, the data is empty or has bad labels,
            `class_names` does not match the classes; or, when training
            begins, if the model's output does not match the classes.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_tb_toolkit.callbacks import MistakesLogger

    x = np.random.rand(16, 8, 8).astype("float32")
    y = np.random.randint(0, 2, size=16)
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        MistakesLogger("logs/mistakes", (x, y), num_mistakes=4)])
    ```
    """

    def __init__(self, log_dir, validation_data, num_mistakes=9, freq=1,
                 class_names=None, batch_size=256, dpi=100):
        self.num_mistakes = check_positive_int(num_mistakes, "num_mistakes")
        self.dpi = check_positive_int(dpi, "dpi")
        super().__init__(log_dir, validation_data, freq, class_names,
                         batch_size)
        self._images = image_inputs(self._scores.x)

    def _fresh_state(self):
        return {**super()._fresh_state(),
                "_worker": _figures.FigureWorker("MistakesLogger")}

    def write(self, probabilities, labels, names):
        mistakes = worst_mistakes(probabilities, labels, self.num_mistakes)
        tf.summary.text("mistakes_table", mistakes_table(mistakes, names))
        # Drawing the grid takes most of a second of Python: a worker thread
        # draws it while training goes on, as the confusion matrix does.
        self._worker.submit(self._write_grid, mistakes, names,
                            int(tf.summary.experimental.get_step()))

    def on_train_end(self, logs=None):
        try:
            self._worker.close()
        finally:
            super().on_train_end(logs)

    def _write_grid(self, mistakes, names, step):
        """Runs on the worker thread."""
        figure = mistakes_figure(mistakes, names, self._images,
                                 self.num_mistakes, self.dpi)
        image = _figures.figure_to_image(figure)
        with self._writers.writing("validation", step=step):
            tf.summary.image("mistakes", image)
        self._writers.flush()
