"""`ktb train`: fit one API style with every TensorBoard callback attached.

A run directory holds the run's configuration (`config.json`), its
TensorBoard data, its checkpoints (`checkpoints/`) and the final
`model.keras`. `--resume` reads the configuration back, restores the newest
valid checkpoint (weights, optimizer state, epoch, best value) and feeds the
data stream from exactly where the checkpoint left it.
"""

import contextlib
import dataclasses
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from ..callbacks import (
    BatchProfiler,
    Checkpoint,
    ConfusionMatrixLogger,
    EmbeddingProjector,
    GradCAMLogger,
    HistogramLogger,
    HistoryPlotter,
    LayoutWriter,
    MistakesLogger,
    ModelInfoLogger,
    PRCurveLogger,
    ScalarLogger,
)
from ..callbacks import _fs
from ..callbacks._atomic_io import remove_quietly, reserve_temp, write_atomically
from . import data as data_lib
from . import models, runs
from .config import write_config
from ._fit_segments import fit_segments
from .distributed import DistributedLoop

MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoints"
# Validation images the callbacks look at, fixed for the run and small, so
# that every forward pass they make costs the epoch next to nothing
# (bench/callback_overhead.py): the projector shows EMBEDDING_SAMPLE digits;
# the confusion matrix, the PR curves and the mistakes are computed on the
# first CLASSIFIER_SAMPLE of them (enough for a 10-class curve to be smooth);
# activations use ACTIVATION_SAMPLE; Grad-CAM explains GRAD_CAM_SAMPLE, a
# grid TensorBoard shows at a glance.
EMBEDDING_SAMPLE = 1000
CLASSIFIER_SAMPLE = 1000
ACTIVATION_SAMPLE = 128
GRAD_CAM_SAMPLE = 8


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """A finished run: where it is, its test scores, its history."""

    run_dir: str
    model_path: str
    test_loss: float
    test_accuracy: float
    history: dict
    initial_epoch: int = 0
    # Batches of `initial_epoch` a restored mid-epoch checkpoint had trained.
    initial_batch: int = 0
    # False on a worker of a multi-worker run that is not the chief: the
    # chief wrote `run_dir`, this process nothing.
    chief: bool = True


def train(config, *, arrays=None, extra_callbacks=(), verbose=1):
    """Trains `config.api` on `config.data`; returns a `TrainResult`.

    Every check (arguments, data, log directory, model hyperparameters) runs
    before the run directory is created, so bad input writes nothing.

    Args:
        config: the `TrainConfig` of the run; validated here.
        arrays: the data `config.load_arrays()` returned, when the caller has
            already loaded it (the demo trains three models on one copy).
            Defaults to `None`: loaded here.
        extra_callbacks: callbacks attached after the toolkit's. Defaults to
            `()`.
        verbose: Keras' `verbose` for `fit()` and `evaluate()`. Defaults to
            `1`.

    Returns:
        A `TrainResult`.

    Raises:
        ConfigError, LogDirError, DataError: see `TrainConfig.validate` and
            `TrainConfig.load_arrays`.
        RunLockedError: another process is training the run
            (`runs.RunLock`).
    """
    # The run directory stays locked from the moment it is known (created,
    # or found to resume) until this call returns or raises.
    with contextlib.ExitStack() as run_lock:
        return _train(config, run_lock, arrays=arrays,
                      extra_callbacks=extra_callbacks, verbose=verbose)


def _train(config, run_lock, *, arrays, extra_callbacks, verbose):
    config.validate()
    # First: MultiWorkerMirroredStrategy must exist before any other op runs.
    strategy = create_strategy(config.strategy)
    # The strategy's own rule names the one worker that writes (the chief);
    # the callbacks ask it the same question.
    chief = bool(strategy.extended.should_checkpoint)
    if arrays is None:
        arrays = config.load_arrays()
    steps_per_epoch = data_lib.load_data(
        arrays, batch_size=config.batch_size, limit=config.limit
    ).steps_per_epoch
    seed_everything(config.seed, deterministic=config.deterministic)
    with strategy.scope():
        model = models.build_model(
            config.api,
            arrays.input_shape,
            arrays.num_classes,
            learning_rate=learning_rate_for(config, steps_per_epoch),
        )
    if config.resume:
        run_dir = runs.existing_run_dir(config.logdir, config.api, config.run_name)
        if chief:
            run_lock.enter_context(runs.RunLock(run_dir))
        # Every worker restores the same newest valid checkpoint, so all
        # start the same step with the same weights.
        state = Checkpoint(_fs.join(run_dir, CHECKPOINT_DIR)).restore(model)
        start_epoch, skip = (state.initial_epoch, state.batches_consumed) if state else (0, 0)
    elif chief:
        run_dir = runs.create_run_dir(config.logdir, config.api, config.run_name)
        run_lock.enter_context(runs.RunLock(run_dir))
        write_config(config, run_dir)
        start_epoch, skip = 0, 0
    else:
        # The chief creates the run directory; a worker only needs its name
        # (multi-worker runs are named: TrainConfig.validate).
        run_dir = _fs.join(config.logdir, config.api, config.run_name)
        start_epoch, skip = 0, 0
    # The other workers run the same callbacks (a callback may take part in
    # a collective operation), pointed at a temporary directory of their
    # own, removed when training ends: whatever a callback writes there
    # never reaches the run directory.
    callbacks_dir = run_dir if chief else run_lock.enter_context(
        tempfile.TemporaryDirectory(prefix="ktb-worker-"))

    def pipelines(first_epoch, last_epoch, skip_batches=0):
        return data_lib.load_data(
            arrays,
            batch_size=config.batch_size,
            seed=config.seed,
            epochs=last_epoch,
            initial_epoch=first_epoch,
            skip_batches=skip_batches,
            limit=config.limit,
        )

    full = pipelines(start_epoch, config.epochs)
    callbacks = [
        *build_callbacks(callbacks_dir, full, save_freq=config.save_freq,
                         batch_size=config.batch_size,
                         profile_batches=config.profile_batches),
        *extra_callbacks,
    ]
    if config.strategy == "multi-worker":
        loop = DistributedLoop(model, strategy)
        history = {}
        if start_epoch < config.epochs:
            history = loop.fit(
                pipelines(start_epoch, config.epochs, skip).train, full.validation,
                epochs=config.epochs, initial_epoch=start_epoch,
                steps_per_epoch=steps_per_epoch, skip_batches=skip,
                callbacks=callbacks, verbose=verbose,
            )
        scores = loop.evaluate(full.test)
    else:
        history = fit_segments(model, pipelines, full, callbacks, config.epochs,
                                start_epoch, skip, steps_per_epoch, verbose)
        scores = model.evaluate(full.test, return_dict=True, verbose=verbose)
    model_path = _fs.join(run_dir, MODEL_FILE)
    if chief:
        save_model_atomically(model, model_path)
    return TrainResult(
        run_dir=run_dir,
        model_path=model_path,
        test_loss=float(scores["loss"]),
        test_accuracy=float(scores["accuracy"]),
        history=history,
        initial_epoch=min(start_epoch, config.epochs),
        initial_batch=skip if start_epoch < config.epochs else 0,
        chief=chief,
    )


def create_strategy(name):
    """The `tf.distribute.Strategy` that `--strategy name` means.

    `auto` is TensorFlow's default strategy (one device, what `fit` uses
    without a scope); `mirrored` a `MirroredStrategy` over every local
    device; `multi-worker` a `MultiWorkerMirroredStrategy`, which reads its
    cluster and task from `TF_CONFIG`.
    """
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def build_callbacks(run_dir, pipelines, *, save_freq="epoch", histogram_freq=1,
                    batch_size=None, profile_batches=None):
    """Every TensorBoard callback of the toolkit, writing into `run_dir`.

    `ktb train` and each full trial of `ktb tune` attach this set; `pipelines`
    provides the fixed validation sample that the callbacks needing a
    forward pass share: the confusion matrix, the PR curves and the
    mistakes look at its first `CLASSIFIER_SAMPLE` images, the activation
    histograms at `ACTIVATION_SAMPLE`, Grad-CAM at `GRAD_CAM_SAMPLE`, the
    projector at all of it. The samples are small on purpose: the whole set
    must cost the training loop next to nothing
    (bench/callback_overhead.py). `ScalarLogger` stands in for
    `keras.callbacks.TensorBoard` with the same tags: it shares the run's
    events files with the other callbacks and flushes every epoch, so a
    TensorBoard started first shows the curves while training runs.

    Args:
        run_dir: the run directory every callback writes into.
        pipelines: the run's `toolkit.data.DataPipelines`.
        save_freq: the checkpoints' `save_freq`, `"epoch"` or a number of
            batches. Defaults to `"epoch"`.
        histogram_freq: epochs between two sets of histograms. Defaults to
            `1`.
        batch_size: images per batch, for the examples-per-second scalar.
            Defaults to `None` (not logged).
        profile_batches: a `(start, stop)` pair of batches to trace with
            `BatchProfiler`, for the Profile dashboard. Defaults to `None`
            (no trace).

    Returns:
        A new list of callbacks, for one `fit()` (or one trial execution).
    """
    x_val, y_val = pipelines.validation_sample(EMBEDDING_SAMPLE)
    class_names = [str(c) for c in range(pipelines.num_classes)]
    classified = (x_val[:CLASSIFIER_SAMPLE], y_val[:CLASSIFIER_SAMPLE])
    callbacks = [
        Checkpoint(_fs.join(run_dir, CHECKPOINT_DIR), save_freq=save_freq),
        ScalarLogger(run_dir, batch_size=batch_size),
        LayoutWriter(run_dir),
        ModelInfoLogger(run_dir),
        HistogramLogger(run_dir, freq=histogram_freq, sample=x_val[:ACTIVATION_SAMPLE]),
        HistoryPlotter(run_dir),
        ConfusionMatrixLogger(run_dir, validation_data=classified, class_names=class_names),
        PRCurveLogger(run_dir, classified, class_names=class_names),
        MistakesLogger(run_dir, classified, class_names=class_names),
        GradCAMLogger(run_dir, x_val[:GRAD_CAM_SAMPLE], max_images=GRAD_CAM_SAMPLE),
        EmbeddingProjector(run_dir, data=x_val, labels=y_val, class_names=class_names),
    ]
    if profile_batches is not None:
        callbacks.append(BatchProfiler(run_dir, batches=profile_batches))
    return callbacks


def learning_rate_for(config, steps_per_epoch):
    """The learning rate of `config`: constant, or cosine-decayed over the run.

    Cosine decay to 1% of the initial rate over all training steps is what
    lets the seeds' CNN pass 99.1% test accuracy in 15 epochs reliably.
    """
    if config.lr_schedule == "constant":
        return config.learning_rate
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate,
        decay_steps=config.epochs * steps_per_epoch,
        alpha=0.01,
    )


def seed_everything(seed, deterministic=False):
    """Seeds Python, NumPy and TensorFlow; optionally turns on op determinism."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def save_model_atomically(model, path):
    """Saves `model` as `.keras` at `path`; a kill mid-save leaves the old file or none.

    Keras writes only to a local path ending in `.keras`, never to an open
    file, so the model goes to a temporary `.keras` first (`reserve_temp`:
    beside `path` on a local disk, in the local temporary directory for a
    URL) and the callbacks' one atomic writer (`write_atomically`: fsync,
    rename and directory fsync locally, one whole-object write on a URL)
    copies it into place, readable by all like the plots. The temporary
    file is removed whether or not that works.
    """
    directory = _fs.dirname(path) or "."
    temporary = reserve_temp(directory, os.path.basename(os.fspath(path)))
    try:
        model.save(temporary)
        with open(temporary, "rb") as saved:
            write_atomically(
                path, lambda target: shutil.copyfileobj(saved, target), mode=0o644
            )
    finally:
        remove_quietly(temporary)
