"""Class probabilities of a fixed validation set, for the classifier loggers.

`PRCurveLogger` and `MistakesLogger` both need, at a logged epoch, the
probability of every class for every example of a fixed, user-bounded set
of arrays, whatever the model outputs: one sigmoid (binary), softmax
probabilities or logits. `ClassScores` holds the data, checks it against the
model before training starts, and runs the forward pass; `ClassifierLogger`
is the callback around it that both subclass.
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

from . import _confusion
from ._copying import CopiesConfiguration
from ._summary import RunWriters, is_chief
from ._validation import check_log_dir, check_names, check_positive_int

# Rows of softmax outputs sum to 1 up to float32 rounding; logits rarely do.
_SUM_TOLERANCE = 1e-3


def to_probabilities(outputs):
    """Class probabilities, shape (n, num_classes >= 2), from model outputs.

    One output column is a binary classifier: a probability when every value
    lies in [0, 1], a logit otherwise (a sigmoid is applied); it becomes the
    two columns (1 - p, p). Several columns are probabilities when every row
    lies in [0, 1] and sums to 1, logits otherwise (a softmax is applied).
    The decision is made over the whole set at once, so it cannot change
    from one batch to the next.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    in_unit_range = outputs.min() >= 0.0 and outputs.max() <= 1.0
    if outputs.shape[1] == 1:
        positive = outputs[:, 0]
        if not in_unit_range:
            positive = 1.0 / (1.0 + np.exp(-positive))
        return np.stack([1.0 - positive, positive], axis=1)
    sums = outputs.sum(axis=1)
    if in_unit_range and np.allclose(sums, 1.0, atol=_SUM_TOLERANCE):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predicted_classes(outputs, threshold=0.5):
    """The predicted class of each row of model `outputs`.

    One output column is a binary classifier: class 1 where its probability
    (see `to_probabilities`) is at least `threshold`. Several columns: the
    most probable class.
    """
    outputs = np.asarray(outputs)
    if outputs.shape[1] == 1:
        return (to_probabilities(outputs)[:, 1] >= threshold).astype(np.int64)
    return np.argmax(outputs, axis=1)


def num_classes_of(width):
    """Classes of a model with `width` output columns (1: binary, 2)."""
    return 2 if width == 1 else width


class ClassScores(CopiesConfiguration):
    """The validation arrays `(x, y)` of a classifier logger and their
    class probabilities under the current model.

    Args:
        data: a tuple `(x, y)`: `x` an array (or a list/tuple/dict of arrays
            for a multi-input model), `y` sparse class ids or one-hot.
        class_names: the logger's checked `class_names`, or None.
        batch_size: batch size of the forward pass.
        owner: the logger's class name, for messages.
    """

    def __init__(self, data, class_names, batch_size, owner):
        self.owner = owner
        self.class_names = class_names
        self.batch_size = batch_size
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError(
                "`validation_data` must be a tuple `(x, y)` of arrays, "
                f"received: {type(data).__name__}"
            )
        try:
            self.x = keras.tree.map_structure(np.asarray, data[0])
            y = np.asarray(data[1])
            samples = len(keras.tree.flatten(self.x)[0])
            labels = len(y)
        except (TypeError, IndexError, ValueError):
            raise TypeError(
                "`validation_data` must be a tuple `(x, y)` of arrays, "
                f"received elements of types {type(data[0]).__name__} and "
                f"{type(data[1]).__name__}"
            ) from None
        if samples == 0 or samples != labels:
            raise ValueError(
                "`validation_data` must hold the same non-zero number of "
                f"inputs and labels, received {samples} inputs and {labels} "
                "labels"
            )
        self.labels = _confusion.class_labels(y)
        # One-hot labels say how many classes there are before any model.
        self.num_classes = y.shape[1] if y.ndim == 2 and y.shape[1] > 1 else (
            len(class_names) if class_names else None)
        if class_names and self.num_classes != len(class_names):
            raise ValueError(
                f"`class_names` must have one name per class "
                f"({self.num_classes}), received {len(class_names)}: "
                f"{list(class_names)}"
            )
        self.__dict__.update(self._fresh_state())

    # KerasTuner copies callbacks per trial: the arrays are read-only and
    # shared, the traced forward pass belongs to one model.
    _SHARED = ("x", "labels")

    def _fresh_state(self):
        return {"_forward": None, "_model": None}

    @property
    def names(self):
        """One name per class (the class ids when no names were given)."""
        return list(self.class_names or map(str, range(self.num_classes)))

    def bind(self, model):
        """Traces the forward pass for `model` and checks that its output
        fits the classes, by one forward pass on the first example.

        Raises:
            ValueError: if the model does not output one score per class
                (a regression model, say), or the labels or `class_names`
                do not match its output.
        """
        if self._model is not model:
            # Not `predict()`, which builds a data pipeline per call, nor
            # `predict_on_batch()`, which repeats the batch per replica
            # under MirroredStrategy; only the chief runs this.
            self._forward = tf.function(
                lambda x: model(x, training=False),
                input_signature=[keras.tree.map_structure(
                    lambda a: tf.TensorSpec((None, *a.shape[1:]), a.dtype),
                    self.x)],
            )
            self._model = model
        first = keras.tree.map_structure(lambda a: a[:1], self.x)
        outputs = self._forward(first)
        shape = tuple(getattr(outputs, "shape", ()))
        if not tf.is_tensor(outputs) or len(shape) != 2:
            raise ValueError(
                f"{self.owner} needs a classifier: the model must output "
                "shape (batch, num_classes), or (batch, 1) for a binary "
                f"one, received output {shape or type(outputs).__name__}"
            )
        width = shape[1]
        num_classes = num_classes_of(width)
        if self.num_classes is not None and self.num_classes != num_classes:
            raise ValueError(
                f"{self.owner}: the model outputs {width} score(s) per "
                f"example, i.e. {num_classes} classes, but "
                f"`validation_data`/`class_names` have {self.num_classes}"
            )
        if self.labels.max() >= num_classes:
            raise ValueError(
                f"{self.owner}: `validation_data` has labels up to "
                f"{self.labels.max()} but the model outputs {width} "
                f"score(s), i.e. {num_classes} classes (a regression model "
                "cannot be logged as a classifier)"
            )
        self.num_classes = num_classes

    def probabilities(self):
        """(n, num_classes) class probabilities under the bound model, or
        None when an output is NaN or inf (a diverged model)."""
        batches = []
        for start in range(0, len(self.labels), self.batch_size):
            x = keras.tree.map_structure(
                lambda a: a[start:start + self.batch_size], self.x)
            batches.append(keras.ops.convert_to_numpy(self._forward(x)))
        outputs = np.concatenate(batches)
        if not np.isfinite(outputs).all():
            return None
        return to_probabilities(outputs)


def warn_not_finite(owner, epoch):
    """The one line a logger says when it skips an epoch of NaN outputs."""
    warnings.warn(
        f"{owner}: the model's outputs at epoch {epoch} are NaN or inf "
        "(training diverged?); nothing is logged for this epoch.",
        stacklevel=3,
    )


class ClassifierLogger(CopiesConfiguration, keras.callbacks.Callback):
    """Base of the callbacks that, every `freq` epochs (`epoch % freq ==
    0`, step = epoch), score `validation_data` and write to
    `<log_dir>/validation`.

    Subclasses implement `write(probabilities, labels, names)`, called
    inside the writer's default context with the step set; the writer is
    flushed after each logged epoch and closed at the end of training. The
    model is checked against the classes in `on_train_begin`.
    """

    def __init__(self, log_dir, validation_data, freq, class_names,
                 batch_size):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        self.freq = check_positive_int(freq, "freq")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.class_names = check_names(class_names, "class_names")
        if self.class_names and len(set(self.class_names)) != len(
                self.class_names):
            raise ValueError(
                f"`class_names` must be unique, received: {class_names!r}")
        self._scores = ClassScores(validation_data, self.class_names,
                                   self.batch_size, type(self).__name__)
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        return {"_writers": RunWriters(self.log_dir)}

    def on_train_begin(self, logs=None):
        self._writers.close()
        if is_chief(self.model):
            self._writers.hold("validation")
        self._scores.bind(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.freq or not is_chief(self.model):
            return
        probabilities = self._scores.probabilities()
        if probabilities is None:
            warn_not_finite(type(self).__name__, epoch)
            return
        with self._writers.writing("validation", step=epoch):
            self.write(probabilities, self._scores.labels, self._scores.names)
        self._writers.flush()

    def on_train_end(self, logs=None):
        self._writers.close()

    def write(self, probabilities, labels, names):
        raise NotImplementedError
