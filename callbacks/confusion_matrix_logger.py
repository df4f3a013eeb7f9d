"""Confusion matrix and per-class precision and recall in TensorBoard."""

import numbers
import warnings

import keras
import numpy as np
import tensorflow as tf

from . import _confusion
from . import _figures
from ._class_scores import num_classes_of, predicted_classes, warn_not_finite
from ._copying import CopiesConfiguration
from ._summary import EpochSteps, RunWriters, is_chief
from ._validation import check_log_dir, check_names, check_positive_int

__all__ = ["ConfusionMatrixLogger"]


class ConfusionMatrixLogger(CopiesConfiguration, keras.callbacks.Callback):
    """Logs the confusion matrix and per-class precision and recall.

    At the end of every epoch where `epoch % freq == 0` (Keras'
    `histogram_freq` rule, so epoch 0 is always written; step = epoch) it
    runs one prediction pass over `validation_data`, takes the predicted
    class (the arg-max of several outputs, so logits and probabilities both
    work; for one sigmoid or logit output, class 1 when its probability is
    at least `threshold`), and writes to
    `<log_dir>/validation` the image `confusion_matrix` (rows: true class,
    columns: predicted class, shaded by row fraction, non-zero counts
    written in the cells) and the scalars `precision/<class>` and
    `recall/<class>`, flushed to disk at once so TensorBoard shows them
    while training runs. A class never predicted has precision 0; a class
    absent from the data has recall 0.

    The model needs one output per class (softmax or logits), or one
    output for a binary classifier (two classes); a model with another
    output shape gets one warning and nothing is logged. An epoch whose
    outputs are NaN or inf (a diverged model) is skipped with a one-line
    warning rather than drawn as the matrix of class 0. One
    instance is one run: a second `fit()` continues the steps after the
    last one written, so no step is written twice.

    Args:
        log_dir: The run directory (the one given to
            `keras.callbacks.TensorBoard`).
        validation_data: A tuple `(x, y)` of arrays (`y` sparse class ids or
            one-hot), or a finite `tf.data.Dataset` of batches `(x, y)`.
        freq: Log at the end of epochs where `epoch % freq == 0`.
            Defaults to `1`.
        class_names: One name per class, used in tags and on the axes. None
            uses the class ids `0, 1, ...`. Defaults to `None`.
        batch_size: Batch size of the prediction pass over arrays.
            Defaults to `256`.
        dpi: Resolution of the image. Defaults to `100`.
        threshold: For a model with one output, the probability from which
            class 1 is predicted. Defaults to `0.5`.

    Raises:
        TypeError: If `log_dir` is not a path, `validation_data` is neither
            a tuple `(x, y)` nor a `tf.data.Dataset`, or `class_names` is not
            a sequence of strings.
        ValueError: If `freq`, `batch_size` or `dpi` is not a positive
            integer, `threshold` is not strictly between 0 and 1, the data is empty, infinite or has bad labels, or
            `class_names` is not unique or does not match the number of
            classes (checked at `on_train_begin` when only the model knows).

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import ConfusionMatrixLogger

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    x, y = np.random.rand(32, 4), np.random.randint(0, 3, 32)
    logger = ConfusionMatrixLogger("logs/run", (x, y),
                                   class_names=["a", "b", "c"])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    ```
    """

    # Read-only data shared by the copies KerasTuner makes for each trial
    # (a tf.data.Dataset cannot be deep-copied).
    _SHARED = ("_x", "_labels", "_dataset")

    def __init__(self, log_dir, validation_data, freq=1, class_names=None,
                 batch_size=256, dpi=100, threshold=0.5):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        self.freq = check_positive_int(freq, "freq")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.dpi = check_positive_int(dpi, "dpi")
        if isinstance(threshold, bool) or not isinstance(
                threshold, numbers.Real) or not 0 < threshold < 1:
            raise ValueError("`threshold` must be a number strictly between "
                             f"0 and 1, received: {threshold!r}")
        self.threshold = float(threshold)
        self.class_names = check_names(class_names, "class_names")
        if self.class_names and len(set(self.class_names)) != len(
                self.class_names):
            raise ValueError(
                f"`class_names` must be unique, received: {class_names!r}"
            )
        self._x, self._labels, self._dataset = None, None, None
        num_classes = self._set_validation_data(validation_data)
        if num_classes is not None:
            self._check_num_classes(num_classes, None, raise_error=True)
        self._writers = RunWriters(self.log_dir)
        self._worker = _figures.FigureWorker("ConfusionMatrixLogger")
        self._figure = _figures.ReusedFigure()  # Used by the worker only.
        self._steps = EpochSteps()
        self._disabled = False
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        # Tied to a model, which cannot be copied; rebuilt when needed.
        return {"_forward": None, "_forward_model": None}

    def _set_validation_data(self, data):
        """Stores the data; returns the number of classes if one-hot."""
        if isinstance(data, tf.data.Dataset):
            if data.cardinality() in (0, tf.data.INFINITE_CARDINALITY):
                raise ValueError(
                    "`validation_data` must be a finite, non-empty dataset, "
                    f"received one of cardinality {int(data.cardinality())} "
                    "(-1: infinite; use `dataset.take(steps)`)"
                )
            spec = data.element_spec
            if not isinstance(spec, tuple) or len(spec) < 2:
                raise TypeError(
                    "`validation_data` must be a dataset of `(x, y)` "
                    f"batches, received elements of spec {spec}"
                )
            self._dataset = data
            return None
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(
                "`validation_data` must be a tuple `(x, y)` of arrays or a "
                f"tf.data.Dataset of `(x, y)`, received: {type(data)}"
            )
        try:
            x, y = tf.nest.map_structure(np.asarray, data[0]), np.asarray(
                data[1])
            samples, num_labels = len(tf.nest.flatten(x)[0]), len(y)
        except (TypeError, IndexError, ValueError):
            raise TypeError(
                "`validation_data` must be a tuple `(x, y)` of arrays, "
                f"received elements of types {type(data[0])} and "
                f"{type(data[1])}"
            ) from None
        if samples == 0 or samples != num_labels:
            raise ValueError(
                "`validation_data` must hold the same non-zero number of "
                f"inputs and labels, received {samples} inputs and "
                f"{num_labels} labels"
            )
        self._x, self._labels = x, _confusion.class_labels(y)
        return y.shape[1] if y.ndim == 2 and y.shape[1] > 1 else None

    def _check_num_classes(self, num_classes, labels, raise_error=False):
        """Whether `class_names` and `labels` fit `num_classes`; raises, or
        warns once and disables logging, when not."""
        message = None
        if self.class_names and len(self.class_names) != num_classes:
            message = (
                f"`class_names` must have one name per class ({num_classes}),"
                f" received {len(self.class_names)}: {list(self.class_names)}"
            )
        elif labels is not None and labels.max() >= num_classes:
            message = (
                f"`validation_data` has labels up to {labels.max()} but the "
                f"model predicts only {num_classes} classes"
            )
        if message and raise_error:
            raise ValueError(message)
        if message:
            self._disable(message)
        return message is None

    def _disable(self, message):
        self._disabled = True
        warnings.warn(f"ConfusionMatrixLogger: {message}; nothing is logged.",
                      stacklevel=3)

    def on_train_begin(self, logs=None):
        self._steps.begin()
        self._disabled = False
        if is_chief(self.model):
            self._writers.hold("validation")
        model = self.model
        if self._forward is None or self._forward_model is not model:
            # Traced once per model. Not `predict()`, which builds a data
            # pipeline per call, nor `predict_on_batch()`, which repeats the
            # batch per replica under MirroredStrategy. No collective op:
            # only the chief needs to run it.
            self._forward = tf.function(lambda x: model(x, training=False),
                                        input_signature=[self._input_spec()])
            self._forward_model = model
        try:
            num_classes = num_classes_of(model.outputs[0].shape[-1])
        except (AttributeError, IndexError, TypeError, ValueError):
            num_classes = None  # Subclassed or unbuilt: check at the epoch.
        if num_classes:
            self._check_num_classes(num_classes, self._labels,
                                    raise_error=True)

    def on_epoch_end(self, epoch, logs=None):
        step = self._steps.step(epoch)
        if step % self.freq or self._disabled or not is_chief(self.model):
            return
        matrix = self._confusion_matrix(step)
        if matrix is not None:
            # Drawing and writing overlap with the next epoch.
            self._worker.submit(self._write, matrix, step)

    def on_train_end(self, logs=None):
        try:
            self._worker.close()
        finally:
            self._writers.close()

    def _input_spec(self):
        source = (self._x if self._dataset is None
                  else self._dataset.element_spec[0])
        return tf.nest.map_structure(
            lambda part: tf.TensorSpec((None, *part.shape[1:]), part.dtype),
            source)

    def _batches(self):
        """Yields `(x, labels)` batches of the validation data."""
        if self._dataset is not None:
            for batch in self._dataset:
                yield batch[0], _confusion.class_labels(batch[1])
            return
        for start in range(0, len(self._labels), self.batch_size):
            end = start + self.batch_size
            x = tf.nest.map_structure(lambda part: part[start:end], self._x)
            yield x, self._labels[start:end]

    def _confusion_matrix(self, epoch):
        """The matrix of this epoch, or None (with one warning) if the
        model or the data does not fit."""
        labels, outputs = [], []
        try:
            for x, batch_labels in self._batches():
                batch = self._forward(x)
                if not tf.is_tensor(batch) or batch.shape.rank != 2:
                    shape = getattr(batch, "shape", type(batch).__name__)
                    self._disable(
                        "the model must output one score per class, shape "
                        "(batch, num_classes), or (batch, 1) for a binary "
                        f"one; it outputs {shape}"
                    )
                    return None
                labels.append(batch_labels)
                outputs.append(batch.numpy())
        except (ValueError, TypeError, tf.errors.OpError) as error:
            # Bad labels in a dataset batch, inputs the model refuses.
            self._disable(f"{type(error).__name__}: {error}")
            return None
        if not labels:
            self._disable("`validation_data` yielded no batch")
            return None
        outputs = np.concatenate(outputs)
        if not np.isfinite(outputs).all():
            warn_not_finite("ConfusionMatrixLogger", epoch)
            return None
        num_classes = num_classes_of(outputs.shape[1])
        labels = np.concatenate(labels)
        if not self._check_num_classes(num_classes, labels):
            return None
        return _confusion.confusion_matrix(
            labels, predicted_classes(outputs, self.threshold), num_classes)

    def _write(self, matrix, step):
        """Runs on the worker thread."""
        names = self.class_names or [str(k) for k in range(len(matrix))]
        precision, recall = _confusion.precision_recall(matrix)
        image = self._figure.image(
            tuple(names),
            lambda: _confusion.confusion_matrix_axes(names, dpi=self.dpi),
            lambda figure: _confusion.fill_confusion_matrix(figure, matrix),
        )
        with self._writers.writing("validation"):
            tf.summary.image("confusion_matrix", image, step=step)
            for name, class_precision, class_recall in zip(names, precision,
                                                           recall):
                tf.summary.scalar(f"precision/{name}", class_precision,
                                  step=step)
                tf.summary.scalar(f"recall/{name}", class_recall, step=step)
        self._writers.flush()  # Shown while training runs, not at its end.
