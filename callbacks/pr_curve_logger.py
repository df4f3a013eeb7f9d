"""`PRCurveLogger`: per-class precision-recall curves in TensorBoard."""

import numpy as np
import tensorflow as tf
from tensorboard.plugins.pr_curve import summary as pr_curve_summary

from . import _class_scores
from ._validation import check_int_at_least

__all__ = ["PRCurveLogger"]


def pr_curve_counts(scores, positives, num_thresholds):
    """The PR-curve data of one class, at thresholds `i / (num_thresholds -
    1)`, as the PR Curves plugin stores it.

    An example counts as predicted positive at threshold t when its score is
    >= t. Precision is 0 where nothing is predicted positive, recall is 0
    when the class has no example (the plugin's convention).

    Args:
        scores: (n,) probability of the class for each example.
        positives: (n,) booleans, whether each example is of the class.
        num_thresholds: number of thresholds, >= 2.

    Returns:
        A dict of (num_thresholds,) float arrays: `true_positive_counts`,
        `false_positive_counts`, `true_negative_counts`,
        `false_negative_counts`, `precision` and `recall`.
    """
    thresholds = np.arange(num_thresholds) / (num_thresholds - 1)
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)

    def at_or_above(values):
        ordered = np.sort(values)
        return len(ordered) - np.searchsorted(ordered, thresholds, "left")

    tp = at_or_above(scores[positives]).astype(np.float64)
    fp = at_or_above(scores[~positives]).astype(np.float64)
    fn = positives.sum() - tp
    tn = (~positives).sum() - fp
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp),
                          where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    return dict(true_positive_counts=tp, false_positive_counts=fp,
                true_negative_counts=tn, false_negative_counts=fn,
                precision=precision, recall=recall)


class PRCurveLogger(_class_scores.ClassifierLogger):
    """Logs each class's precision-recall curve on a validation set.

    Every `freq` epochs (where `epoch % freq == 0`, step = epoch, Keras'
    `histogram_freq` meaning) it runs one forward pass over
    `validation_data` and writes to `<log_dir>/validation`, for the PR
    Curves dashboard, the summary `pr_curve/<class>` (stored under the tag
    `pr_curve/<class>/pr_curves`, the plugin's own format): counts,
    precision and recall of "class vs. the rest" at `num_thresholds`
    thresholds evenly spaced in [0, 1].

    The model may output softmax probabilities or logits (detected, and a
    softmax applied), or, for a binary classifier, one sigmoid probability
    or logit. With two classes only the curve of class 1 (the positive
    class) is written: class 0's is the same data seen from the other side.
    The output is checked against the classes when training begins, with
    one forward pass on the first example: a regression model fails there.

    Args:
        log_dir: The run directory (the one given to
            `keras.callbacks.TensorBoard`).
        validation_data: A tuple `(x, y)` of arrays, `y` sparse class ids
            or one-hot. Every example is predicted at each logged epoch, so
            keep it to a few thousand.
        freq: Log every `freq` epochs. Defaults to `1`.
        class_names: One name per class, used in tags. None uses the class
            ids `0, 1, ...`. Defaults to `None`.
        num_thresholds: Number of thresholds, >= 2. Defaults to `201`.
        batch_size: Batch size of the forward pass. Defaults to `256`.

    Raises:
        TypeError: If `log_dir`, `validation_data` or `class_names` has the
            wrong type.
        ValueError: If `freq` or `batch_size` is not a positive integer,
            `num_thresholds` < 2, the data is empty or has bad labels,
            `class_names` is not unique or does not match the classes; or,
            when training begins, if the model's output does not match the
            classes.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_tb_toolkit.callbacks import PRCurveLogger

    x = np.random.rand(16, 4).astype("float32")
    y = np.random.randint(0, 3, size=16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        PRCurveLogger("logs/pr_curves", (x, y), class_names=["a", "b", "c"])])
    ```
    """

    def __init__(self, log_dir, validation_data, freq=1, class_names=None,
                 num_thresholds=201, batch_size=256):
        self.num_thresholds = check_int_at_least(
            num_thresholds, "num_thresholds", 2)
        super().__init__(log_dir, validation_data, freq, class_names,
                         batch_size)

    def write(self, probabilities, labels, names):
        # A binary classifier's two curves are one curve seen from both
        # sides: the positive class's is the one users read.
        classes = [1] if len(names) == 2 else range(len(names))
        for k in classes:
            data = pr_curve_counts(probabilities[:, k], labels == k,
                                   self.num_thresholds)
            summary = pr_curve_summary.raw_data_pb(
                f"pr_curve/{names[k]}", num_thresholds=self.num_thresholds,
                display_name=f"{names[k]} vs. rest", **data)
            tf.summary.experimental.write_raw_pb(summary.SerializeToString())
