"""The winner of a search, inspected with every callback into `<search>/best/`.

Trials write the light set (`_trial_callbacks`); what only matters for the
model one keeps (graph and summary, confusion matrix with per-class
precision and recall, projector with sprites, activation histograms, PR
curves, worst mistakes, Grad-CAM) is written once, for the best trial, as a
run of its own. The model comes from keras-tuner's checkpoint of the
trial's best epoch (`Tuner.load_model`), so no trial keeps a copy of its
own. The callbacks are driven without training: `on_train_begin`, one
`on_epoch_end` with the trial's metrics at its best epoch, `on_train_end`,
on the validation split the objective was measured on.

`best/` is removed and written again each time, so a rerun (a resumed
search, `ktb tune --inspect-best`) leaves one run, never two.
"""

import os
import statistics
import warnings

import keras
import tensorflow as tf
from keras_tuner.engine.trial import TrialStatus

from ...callbacks import Checkpoint, GradCAMLogger, MistakesLogger, PRCurveLogger
from .. import training
from ._hparams import session_hparams

BEST_DIR = "best"
BEST_MODEL_FILE = "best_model.keras"
# The diagnostics added here look at the validation images the full set's
# confusion matrix looks at, and Grad-CAM explains a grid of 16.
CLASSIFIER_SAMPLE = 1000
GRAD_CAM_IMAGES = 16


def best_trial(oracle):
    """The oracle's best completed trial, or `None` when none completed."""
    completed = [
        t for t in oracle.get_best_trials(len(oracle.trials))
        if t.status == TrialStatus.COMPLETED and t.score is not None
    ]
    return completed[0] if completed else None


def inspection_callbacks(run_dir, pipelines):
    """The full set for a finished model: `training.build_callbacks` and the diagnostics.

    The set is taken from `training.build_callbacks`, so what `ktb train`
    attaches the winner gets too, less its `Checkpoint` (the model is saved
    as `best_model.keras`); PR curves, mistakes and Grad-CAM are added
    unless that set already holds them.
    """
    callbacks = [
        c for c in training.build_callbacks(run_dir, pipelines)
        if not isinstance(c, Checkpoint)
    ]
    x_val, y_val = pipelines.validation_sample(CLASSIFIER_SAMPLE)
    class_names = [str(c) for c in range(pipelines.num_classes)]
    present = {type(c) for c in callbacks}
    diagnostics = {
        PRCurveLogger: lambda: PRCurveLogger(
            run_dir, validation_data=(x_val, y_val), class_names=class_names),
        MistakesLogger: lambda: MistakesLogger(
            run_dir, validation_data=(x_val, y_val), class_names=class_names),
        GradCAMLogger: lambda: GradCAMLogger(run_dir, images=x_val[:GRAD_CAM_IMAGES]),
    }
    callbacks += [make() for kind, make in diagnostics.items() if kind not in present]
    return callbacks


def metrics_at_best_step(trial):
    """`{metric: value}` of `trial` at its best epoch (mean over executions)."""
    logs = {}
    for name in trial.metrics.metrics:
        history = trial.metrics.get_history(name)
        if not history:
            continue
        at_best = [o for o in history if o.step == trial.best_step] or history[-1:]
        values = at_best[0].value
        logs[name] = float(statistics.fmean(values) if isinstance(values, list) else values)
    return logs


def hyperparameters_markdown(trial, objective):
    """The trial's id, run, score and hyperparameters as a Markdown table."""
    lines = ["| hyperparameter | value |", "|---|---|",
             f"| trial | {trial.trial_id} (run `trial_{trial.trial_id}`) |",
             f"| {objective} | {trial.score:.4f} (epoch {trial.best_step}) |"]
    lines += [f"| {k} | {v} |" for k, v in session_hparams(trial.hyperparameters.values).items()]
    return "\n".join(lines)


def inspect_best(tuner, pipelines):
    """Writes the best trial of `tuner` into `<search>/best/`; returns its path.

    Args:
        tuner: a toolkit tuner whose search has run or was reloaded.
        pipelines: the search's `toolkit.data.DataPipelines`.

    Returns:
        The path of `best/`, or `None` when no trial completed (nothing is
        written then).
    """
    trial = best_trial(tuner.oracle)
    if trial is None:
        return None
    best_dir = os.path.join(tuner.project_dir, BEST_DIR)
    if tf.io.gfile.exists(best_dir):
        tf.io.gfile.rmtree(best_dir)
    tf.io.gfile.makedirs(best_dir)
    with warnings.catch_warnings():
        # keras-tuner reloads weights only; the optimizer starts afresh.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.load_model(trial)
    # A built optimizer saves its slots, so the file loads without warnings.
    model.optimizer.build(model.trainable_variables)
    callbacks = keras.callbacks.CallbackList(
        inspection_callbacks(best_dir, pipelines), model=model
    )
    with warnings.catch_warnings():
        # Nothing trains here, so the histogram hook sees no gradient, as
        # intended: the winner's gradients are in its trial's run.
        warnings.filterwarnings("ignore", message="HistogramLogger: no gradient reached")
        callbacks.on_train_begin()
        callbacks.on_epoch_end(0, metrics_at_best_step(trial))
        callbacks.on_train_end()
    writer = tf.summary.create_file_writer(best_dir)
    with writer.as_default():
        tf.summary.text("hyperparameters",
                        hyperparameters_markdown(trial, tuner.oracle.objective.name), step=0)
    writer.close()
    training.save_model_atomically(model, os.path.join(best_dir, BEST_MODEL_FILE))
    return best_dir
