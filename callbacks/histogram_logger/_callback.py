"""`HistogramLogger`: weight, gradient and activation histograms."""

import warnings

import keras

from .. import _summary
from .. import _validation
from .._copying import CopiesConfiguration
from . import _gradient_capture
from . import _histograms
from . import _layer_outputs


class HistogramLogger(CopiesConfiguration, keras.callbacks.Callback):
    """Writes weight, gradient and activation histograms to TensorBoard.

    At the end of every epoch where `epoch % freq == 0` (Keras'
    `histogram_freq` rule, so epoch 0 is always written; step = epoch),
    and optionally every `batch_freq` training batches, writes to
    `<log_dir>/train`, flushed to disk at once so TensorBoard shows it
    while training runs:

    - `weights/<layer>/<variable>`: histogram of each variable of a layer;
    - `gradients/<layer>/<variable>`: histogram of the gradient of the
      training loss for each trainable variable, as applied in the last
      training step;
    - `gradient_norm`: the global L2 norm of all those gradients;
    - `update_ratio/<layer>`: ||w_t - w_{t-1}|| / ||w_t|| over the layer's
      trainable variables, for the last training step t;
    - `activations/<layer>`: histogram of the layer's output on the fixed
      `sample`, computed with `training=False` (nested outputs are
      concatenated);
    - `nonfinite/<layer>`: how many NaN or inf values the layer's weights
      and last gradients hold, only when some do (histograms omit them).

    Batch-level summaries use the same tags prefixed with `batch_`
    (`batch_gradients/...`, `batch_gradient_norm`) and the global training
    step (`optimizer.iterations`) as step, so they never mix with the
    epoch-level ones. `<layer>` is a top-level layer of the model
    (`model.layers`); `<variable>` is the variable's path below it.

    Gradients are not recomputed. Given the model, the callback hooks the
    optimizer instance's `apply` (Keras' `apply_gradients` calls it), so
    the traced training step copies each gradient it applies into a
    device-side variable; nothing is read back until logging time. These
    are the gradients of the real loss (scaled losses are unscaled, and
    under `tf.distribute` they are summed over replicas as the optimizer
    does), before clipping. A custom `train_step`, or a hand-written loop,
    is covered as long as it calls `optimizer.apply` or
    `optimizer.apply_gradients`; it must be traced after the callback is
    attached (`fit` takes care of this; a loop should build its
    `tf.function` after `CallbackList(..., model=model)`), otherwise one
    warning says that no gradient was seen. The hook is removed in
    `on_train_end` and the model's train function is dropped so a later
    `fit` without this callback traces a clean step. Capturing keeps one
    extra copy of the trainable weights on the device for the gradients,
    and one more for the weights before the step when `update_ratios`
    is on.

    Args:
        log_dir: Run directory; summaries go to `<log_dir>/train`.
        freq: Write at the end of epochs where `epoch % freq == 0`
            (0, freq, 2*freq, ...). Defaults to `1`.
        batch_freq: Also write every `batch_freq` training batches, or
            None for epoch-level only. Per-batch logging reads values back
            from the device, so keep it coarse. Defaults to `None`.
        weights: Write weight histograms. Defaults to `True`.
        gradients: Write gradient histograms and `gradient_norm`.
            Defaults to `True`.
        update_ratios: Write `update_ratio/<layer>`. Defaults to `True`.
        activations: Write activation histograms; they need `sample`.
            Defaults to `True`.
        layers: Name or names of the layers to log, or None for all.
            Defaults to `None`.
        sample: Fixed model inputs for activation histograms: an array, or
            a list/tuple/dict of arrays for a multi-input model. Keras does
            not pass batches to callbacks, so without it activations are
            skipped with one warning. Defaults to `None`.
        sample_size: Number of rows of `sample` to use. Defaults to `128`.

    Raises:
        TypeError: if `log_dir`, `layers`, `sample` or a flag has the wrong
            type.
        ValueError: if `freq`, `batch_freq` or `sample_size` is not a
            positive integer, if nothing is selected to be written, or (at
            `set_model`) if `layers` names a layer the model does not have.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_tb_toolkit.callbacks import HistogramLogger

    x = np.random.rand(16, 8).astype("float32")
    y = np.random.randint(0, 2, size=(16,))
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(4, activation="relu", name="hidden"),
        keras.layers.Dense(2, name="logits"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[HistogramLogger("logs/run", sample=x)])
    ```
    """

    def __init__(
        self,
        log_dir,
        freq=1,
        batch_freq=None,
        weights=True,
        gradients=True,
        update_ratios=True,
        activations=True,
        layers=None,
        sample=None,
        sample_size=128,
    ):
        super().__init__()
        self.log_dir = _validation.check_log_dir(log_dir)
        self.freq = _validation.check_positive_int(freq, "freq")
        self.batch_freq = _validation.check_positive_int(
            batch_freq, "batch_freq", allow_none=True
        )
        flags = dict(weights=weights, gradients=gradients,
                     update_ratios=update_ratios, activations=activations)
        for name, value in flags.items():
            setattr(self, name, _validation.check_bool(value, name))
        if not any(flags.values()):
            raise ValueError(
                "At least one of `weights`, `gradients`, `update_ratios` or "
                "`activations` must be True, received all False"
            )
        self.layer_names = _validation.check_names(layers, "layers")
        self.sample_size = _validation.check_positive_int(
            sample_size, "sample_size"
        )
        self.sample = _layer_outputs.prepare_sample(sample, self.sample_size)
        if self.batch_freq is None:
            # A default `on_train_batch_end` keeps Keras' asynchronous batch
            # dispatch, so the loop never waits for this callback.
            self.on_train_batch_end = super().on_train_batch_end
        self._warned = set()
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        # Keras Tuner deep-copies callbacks for each trial: a copy gets the
        # configuration, not the model, hooks and writers of a past run.
        return {
            "_capture": None,
            "_writers": _summary.RunWriters(self.log_dir),
            "_layers": [],
            "_stale_train_function": None,
            "_steps_at_last_log": {},
            "_global_batch": 0,
            "_epoch_batches": 0,
        }

    def set_model(self, model):
        super().set_model(model)
        self._layers = _histograms.select_layers(model, self.layer_names)
        # `fit` calls `set_model` before `make_train_function`: a train
        # function that exists now was traced without the hook.
        self._stale_train_function = getattr(model, "train_function", None)
        self._attach(warn=False)

    def on_train_begin(self, logs=None):
        self._writers.close()
        if _summary.is_chief(self.model):
            self._writers.hold("train")
        self._attach(warn=True)
        if self._capture is not None:
            train_function = getattr(self.model, "train_function", None)
            stale = train_function is self._stale_train_function
            if train_function is not None and stale:
                self.model.make_train_function(force=True)
            steps = self._capture.steps_taken()
            self._steps_at_last_log = {"": steps, "batch_": steps}
        if self.batch_freq:
            # Batch-level steps continue over `fit` calls, like the optimizer.
            steps = _summary.optimizer_steps(self.model)
            self._global_batch = self._global_batch if steps is None else steps
        if self.activations and self.sample is None:
            self._warn_once(
                "sample",
                "HistogramLogger: activation histograms need `sample=` (a "
                "fixed batch of model inputs, e.g. `x_train[:128]`); none "
                "was given, so they are skipped. Pass `activations=False` "
                "to silence this warning.",
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the last batch index of the execution, which may cover
        # several batches (`steps_per_execution`).
        done = batch + 1
        before = self._global_batch
        self._global_batch += max(done - self._epoch_batches, 1)
        self._epoch_batches = done
        if self._global_batch // self.batch_freq > before // self.batch_freq:
            self._write(self._global_batch, prefix="batch_")

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.freq == 0:
            self._write(epoch, prefix="")

    def on_train_end(self, logs=None):
        self._writers.close()
        if self._capture is not None:
            _gradient_capture.release(self.model, self._capture)

    def _attach(self, warn):
        if not (self.gradients or self.update_ratios):
            return
        self._capture = _gradient_capture.capture_for(
            self.model, self._capture, self.update_ratios
        )
        if self._capture is None and warn:
            self._warn_once(
                "optimizer",
                "HistogramLogger: the model has no optimizer, so gradients "
                "and update ratios are skipped. Call "
                "`model.compile(optimizer=...)` or set `model.optimizer` "
                "before training, and apply gradients with it.",
            )

    def _write(self, step, prefix):
        # Every worker reads the gradients (an all-reduce across workers
        # under MultiWorkerMirroredStrategy); only the chief writes them.
        capture = None if self._capture is None else self._capture.snapshot()
        if not _summary.is_chief(self.model):
            return
        groups = _histograms.layer_variables(
            self.model, self._layers, self.layer_names is None
        )
        wants_variables = self.weights or self.gradients or self.update_ratios
        if not groups and wants_variables:
            self._warn_once(
                "no_weights",
                "HistogramLogger: the selected layers have no weights, so "
                "weight, gradient and update-ratio summaries are skipped.",
            )
        with self._writers.writing("train", step=step):
            if self.weights:
                _histograms.write_weights(groups, prefix)
            _histograms.write_nonfinite(groups, capture, prefix)
            if groups and capture is not None and self._new_steps(prefix):
                _histograms.write_gradients(
                    capture, groups, prefix, self.gradients, self.update_ratios
                )
            if self.activations and self.sample is not None:
                self._write_activations(prefix)
        self._writers.flush()

    def _new_steps(self, prefix):
        """Whether a training step went through the hook since last time."""
        steps = self._capture.steps_taken()
        if steps == self._steps_at_last_log.get(prefix, 0):
            self._warn_once(
                "no_steps",
                "HistogramLogger: no gradient reached `model.optimizer` "
                "since the last summary, so gradients and update ratios are "
                "skipped. Either the training step was traced before the "
                "callback was attached (in a custom loop, build the "
                "`tf.function` after creating the CallbackList), or it "
                "applies gradients with another optimizer, or the optimizer "
                "skipped every step (a LossScaleOptimizer does when the "
                "gradients are not finite).",
            )
            return False
        self._steps_at_last_log[prefix] = steps
        if self._capture.uncaptured:
            self._warn_once(
                "uncaptured",
                "HistogramLogger: gradients of variables created inside a "
                f"distributed step are not captured: "
                f"{self._capture.uncaptured}. Build the model before "
                "training.",
            )
        return True

    def _write_activations(self, prefix):
        try:
            outputs = _layer_outputs.layer_outputs(self.model, self._layers,
                                                 self.sample)
        except Exception as error:  # Never stop training for a summary.
            self._warn_once(
                "activations",
                "HistogramLogger: the forward pass on `sample` failed, so "
                f"activations are skipped: {type(error).__name__}: {error}",
            )
            return
        for name, output in outputs.items():
            _histograms.write_histogram(f"{prefix}activations/{name}", output)

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=3)
