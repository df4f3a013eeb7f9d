"""The work behind `ConfusionMatrixLogger`: labels, counts, scores, figure.

Pure functions on numpy arrays: class ids from sparse or one-hot labels,
the confusion matrix, per-class precision and recall, and the figure of
the matrix. The figure is built by `confusion_matrix_axes` and filled by
`fill_confusion_matrix`, so that `_figures.ReusedFigure` can redraw it with
new counts while the class names are unchanged.
"""

import math

import numpy as np
from matplotlib.figure import Figure

# Above this many classes the counts no longer fit in the cells.
_MAX_ANNOTATED_CLASSES = 30
# Width of one character of a tick label, in inches, to size the margins.
_CHARACTER_WIDTH = 0.075


def class_labels(y, source="`validation_data`", ids=True):
    """The package's one label normaliser: labels as a 1-D array.

    Sparse labels, shape (n,) or (n, 1), are flattened; one-hot labels,
    shape (n, num_classes), become class ids; rows of any other values
    (scores, soft labels) are an error rather than an arg-max.

    Args:
        y: the labels.
        source: how the error messages name where the labels come from.
        ids: whether sparse labels must be class ids (non-negative integers,
            returned as int64); otherwise any 1-D labels (strings, say) are
            returned as they are.

    Raises:
        ValueError: when `y` has another shape, has rows that are not
            one-hot, or is not made of class ids while `ids` is set.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        # An arg-max of scores or soft labels would pass for labels.
        one_hot = ((y == 0) | (y == 1)).all(axis=1) & (y.sum(axis=1) == 1)
        if not one_hot.all():
            row = int(np.argmin(one_hot))
            raise ValueError(
                f"{source} labels of shape {y.shape} must be one-hot rows (a "
                f"single 1, zeros elsewhere); received row {row}: {y[row]}"
            )
        return np.argmax(y, axis=1)
    if y.ndim == 2:
        y = y[:, 0]
    if y.ndim != 1 or (ids and y.dtype.kind not in "iuf"):
        raise ValueError(
            f"{source} labels must be sparse class ids, shape (n,) "
            "or (n, 1), or one-hot, shape (n, num_classes); received shape "
            f"{y.shape} of dtype {y.dtype}"
        )
    if not ids:
        return y
    labels = y.astype(np.int64)
    invalid = (labels != y) | (labels < 0)
    if np.any(invalid):
        raise ValueError(
            f"{source} sparse labels must be non-negative integers, "
            f"received values such as {y[invalid][:3]}"
        )
    return labels


def confusion_matrix(labels, predictions, num_classes):
    """Counts, rows indexed by true class, columns by predicted class (the
    layout of `tf.math.confusion_matrix`)."""
    flat = np.asarray(labels) * num_classes + np.asarray(predictions)
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def precision_recall(matrix):
    """Per-class precision and recall of a confusion matrix.

    A class never predicted has precision 0, a class absent from the labels
    has recall 0 (rather than NaN, which would break the TensorBoard curves).
    """
    correct = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(correct, predicted, out=np.zeros_like(correct),
                          where=predicted > 0)
    recall = np.divide(correct, actual, out=np.zeros_like(correct),
                       where=actual > 0)
    return precision, recall


def confusion_matrix_figure(matrix, class_names, title=None, dpi=100):
    """Draws a confusion matrix (rows: true class, columns: predicted class).

    Cells are shaded by the fraction of their row (the recall view), so that
    rare classes stay readable, and annotated with their non-zero counts.
    """
    figure = confusion_matrix_axes(class_names, title, dpi)
    fill_confusion_matrix(figure, matrix)
    return figure


def confusion_matrix_axes(class_names, title=None, dpi=100):
    """An empty confusion matrix figure; see `fill_confusion_matrix`."""
    num_classes = len(class_names)
    label_width = _CHARACTER_WIDTH * max(len(name) for name in class_names)
    left = 0.6 + label_width
    bottom = 0.55 + 0.75 * label_width  # Labels are rotated by 45 degrees.
    side = max(3.0, 0.4 * num_classes)
    # Whole quarter inches: exact in binary, so the size in pixels does not
    # depend on rounding.
    width = math.ceil((left + side + 0.2) * 4) / 4
    height = math.ceil((bottom + side + 0.4) * 4) / 4
    figure = Figure(figsize=(width, height), dpi=dpi)
    axes = figure.add_axes(
        (left / width, bottom / height, side / width, side / height)
    )
    axes.imshow(np.zeros((num_classes, num_classes)), cmap="Blues",
                vmin=0.0, vmax=1.0)
    ticks = np.arange(num_classes)
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right",
                    rotation_mode="anchor")
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if num_classes <= _MAX_ANNOTATED_CLASSES:
        for row, column in np.ndindex(num_classes, num_classes):
            axes.text(column, row, "", ha="center", va="center", fontsize=8)
    axes.set_title(title or "confusion matrix (shade: fraction of row)",
                   fontsize=9)
    return figure


def fill_confusion_matrix(figure, matrix):
    """Shows `matrix` in a figure made by `confusion_matrix_axes`."""
    matrix = np.asarray(matrix)
    axes = figure.axes[0]
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.images[0].set_data(fractions)
    for text, count, fraction in zip(axes.texts, matrix.flat, fractions.flat):
        # Zero cells stay blank: easier to read, and text is what costs
        # most to draw (a trained model has mostly zeros off the diagonal).
        text.set_text(str(count) if count else "")
        text.set_color("white" if fraction > 0.5 else "black")
