"""The HParams experiment and sessions of a search, from keras-tuner objects.

keras-tuner writes no HParams data, and the dashboard, left to itself,
shows the observed min/max of each hyperparameter and no status for failed
trials. These pure helpers turn keras-tuner's search space, oracle and
trial records into what `tensorboard.plugins.hparams` expects:

- the experiment (`write_experiment`), written once per search directory:
  the declared domain of every hyperparameter (`hparam_domains`) and the
  metrics (`metric_infos`): the objective's best value per trial, then the
  epoch metrics Keras' TensorBoard callback writes;
- one session per run directory: its start (`write_session_start`, the
  trial's active values from `session_hparams`) and its end
  (`write_session_end`: status, the objective's best value, and for a failed
  trial the reason from `failure_reason`).

The tuners of `toolkit.tuning` call them from their hooks. The session's
end has no public API: `toolkit._tensorboard_compat` builds it.
"""

import math
import os

import tensorflow as tf
from keras_tuner.engine import hyperparameters as hp_types
from tensorboard.plugins.hparams import api as hparams_api

from .._tensorboard_compat import session_end_summary

EXPERIMENT_SUFFIX = ".hparams_experiment"
HYPERBAND_HPARAMS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round")


def session_hparams(values):
    """The HParams of a trial: its active values, less Hyperband's parent id."""
    return {k: v for k, v in values.items() if k != "tuner/trial_id" and v is not None}


def hparam_domains(space):
    """`HParam`s with the declared domains of a keras-tuner space, one per name."""
    hparams = {}
    for hp in space.space:
        if hp.name not in hparams:
            hparams[hp.name] = hparams_api.HParam(hp.name, _domain(hp))
    return list(hparams.values())


def _domain(hp):
    if isinstance(hp, hp_types.Boolean):
        return hparams_api.Discrete([False, True])
    if isinstance(hp, hp_types.Fixed):
        return hparams_api.Discrete([hp.value])
    if isinstance(hp, hp_types.Choice):
        return hparams_api.Discrete(list(hp.values))
    config = hp.get_config()
    step = config.get("step")
    low, high = config["min_value"], config["max_value"]
    if isinstance(hp, hp_types.Int):
        if step in (None, 1) or config.get("sampling") != "linear":
            return hparams_api.IntInterval(low, high)
        return hparams_api.Discrete(list(range(low, high + 1, step)))
    if step is not None and config.get("sampling") == "linear":
        count = int(round((high - low) / step))
        return hparams_api.Discrete([round(low + i * step, 10) for i in range(count + 1)])
    return hparams_api.RealInterval(float(low), float(high))


def hyperband_hparams(max_epochs, num_brackets):
    """The `HYPERBAND_HPARAMS` Hyperband adds to each trial, with their domains."""
    epochs, initial_epoch, bracket, rounds = HYPERBAND_HPARAMS
    return [
        hparams_api.HParam(epochs, hparams_api.IntInterval(1, max_epochs)),
        hparams_api.HParam(initial_epoch, hparams_api.IntInterval(0, max_epochs)),
        hparams_api.HParam(bracket, hparams_api.IntInterval(0, num_brackets - 1)),
        hparams_api.HParam(rounds, hparams_api.IntInterval(0, num_brackets - 1)),
    ]


def metric_infos(oracle):
    """The objective (best value of the trial) and the epoch metrics."""
    objective = oracle.objective.name
    train, validation = hparams_api.Metric.TRAINING, hparams_api.Metric.VALIDATION
    return [
        hparams_api.Metric(f"best_{objective}", display_name=f"{objective} (objective, best epoch)"),
        hparams_api.Metric("epoch_accuracy", group="validation", display_name="val_accuracy",
                           dataset_type=validation),
        hparams_api.Metric("epoch_loss", group="validation", display_name="val_loss",
                           dataset_type=validation),
        hparams_api.Metric("epoch_accuracy", group="train", display_name="accuracy",
                           dataset_type=train),
        hparams_api.Metric("epoch_loss", group="train", display_name="loss", dataset_type=train),
    ]


def write_experiment(directory, oracle, extra_hparams=()):
    """Writes the experiment of `oracle`'s search into `directory`, unless one is there.

    A resumed search, or a worker sharing the directory, finds the first
    one and keeps it, so the dashboard never sees two experiments.
    """
    # tf.io.gfile, as the directory may be a URL (gs://...).
    if tf.io.gfile.glob(os.path.join(directory, f"*{EXPERIMENT_SUFFIX}")):
        return
    hparams = hparam_domains(oracle.get_space()) + list(extra_hparams)
    writer = tf.summary.create_file_writer(directory, filename_suffix=EXPERIMENT_SUFFIX)
    with writer.as_default():
        hparams_api.hparams_config(hparams=hparams, metrics=metric_infos(oracle))
    writer.close()


def write_session_start(run_dirs, values, group_name):
    """Starts one session per run directory; returns their open writers.

    The writers stay open for `write_session_end`, which closes them.
    """
    hparams = session_hparams(values)
    writers = []
    for run_dir in run_dirs:
        writer = tf.summary.create_file_writer(run_dir)
        with writer.as_default():
            hparams_api.hparams(hparams, trial_id=group_name)
        writer.flush()
        writers.append(writer)
    return writers


def write_session_end(writer, succeeded, score, best_step, message, *, objective):
    """Ends an HParams session: status, the objective's best value, the reason."""
    with writer.as_default():
        if score is not None and math.isfinite(score):
            tf.summary.scalar(f"best_{objective}", score, step=int(best_step or 0))
        reason = "" if succeeded else failure_reason(message)
        tf.summary.text("trial_status", "SUCCESS" if succeeded else f"FAILED: {reason}", step=0)
        tf.summary.experimental.write_raw_pb(session_end_summary(succeeded), step=0)
    writer.close()


def failure_reason(message):
    """The last line of a trial's traceback, without the exception's module path."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return "unknown reason"
    last = lines[-1]
    head, _, rest = last.partition(": ")
    if rest and "FailedTrialError" in head:
        return rest
    return last
