"""Keras Tuner searches with the toolkit's TensorBoard callbacks and HParams.

keras-tuner reroutes only callbacks whose class is named `TensorBoard`,
deep-copies every callback (and fails the search when one cannot be copied),
and writes no HParams experiment, so the dashboard shows observed min/max
instead of the declared space and no status for failed trials.
`ToolkitTunerMixin` (mixed into each keras-tuner tuner below) fixes that:

- each trial runs in its own run directory `<logdir>/<name>/trial_<id>/`
  (`.../execution_<n>/` with several executions per trial), which is also
  keras-tuner's trial directory; `training.run_callbacks(run_dir, pipelines)`
  builds fresh toolkit callbacks there for every execution, so nothing of
  ours is deep-copied; a user callback that cannot be deep-copied is shared
  across trials with one warning;
- each run directory is an HParams session: its start (the trial's active
  hyperparameters, `group_name` = trial id) is written when the trial
  begins, its end (`STATUS_SUCCESS` or `STATUS_FAILURE`, the reason as text,
  the objective's best value as `best_<objective>`) when it ends; a trial
  whose hyperparameters cannot build is recorded as FAILED and the search
  goes on;
- `<logdir>/<name>/` holds the HParams experiment with the declared domains
  of the search space, written once and only by the chief, and a
  `leaderboard` text summary of the best trials;
- a rerun of the same search resumes it: the interrupted trial's run
  directory is cleared and the trial is run again.

In distributed mode (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
`KERASTUNER_ORACLE_PORT`) the chief serves the oracle over keras-tuner's gRPC
service with a bounded wait, and workers run the trials.
"""

import copy
import dataclasses
import glob
import math
import os
import shutil
import time
import warnings

import keras_tuner as kt
import tensorflow as tf
from keras_tuner.engine import hyperparameters as hp_types
from keras_tuner.src.engine import trial as trial_module
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary

from toolkit import training
from toolkit.errors import ConfigError, ToolkitError

TUNERS = ("random", "bayesian", "hyperband", "grid")
OBJECTIVE = "val_accuracy"
BEST_MODEL_FILE = "best_model.keras"
EXPERIMENT_SUFFIX = ".hparams_experiment"
HYPERBAND_HPARAMS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round")
_TRIAL_RECORD = "trial.json"  # keras-tuner's record of the trial, kept on reruns
_COMPLETED = trial_module.TrialStatus.COMPLETED
_RUNNING = trial_module.TrialStatus.RUNNING


class ToolkitTunerMixin:
    """Per-trial run directories, toolkit callbacks and HParams sessions.

    Mix in before a `keras_tuner.Tuner` subclass; see the module docstring.

    Args:
        pipelines: the `toolkit.data.DataPipelines` of the search; the
            callback factory gets it.
        callback_factory: `(run_dir, pipelines) -> [callbacks]`, called per
            trial execution. Defaults to `training.run_callbacks`.
        chief_timeout_s: the longest a chief serves the oracle, or `None`.
            Defaults to `None`.
    """

    def __init__(self, *args, pipelines=None, callback_factory=None,
                 chief_timeout_s=None, **kwargs):
        self.pipelines = pipelines
        self.callback_factory = callback_factory or training.run_callbacks
        self.chief_timeout_s = chief_timeout_s
        self._session_writers = {}
        self._warned_shared = set()
        super().__init__(*args, **kwargs)

    # Where a trial writes.
    def run_dir(self, trial_id, execution=0):
        trial_dir = self.get_trial_dir(trial_id)
        if self.executions_per_trial == 1:
            return trial_dir
        return os.path.join(trial_dir, f"execution_{execution}")

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        super()._configure_tensorboard_dir(callbacks, trial, execution)
        callbacks.extend(
            self.callback_factory(self.run_dir(trial.trial_id, execution), self.pipelines)
        )

    def _deepcopy_callbacks(self, callbacks):
        copies = []
        for callback in callbacks:
            try:
                copies.append(copy.deepcopy(callback))
            except Exception as error:  # noqa: BLE001  any failure to copy
                if id(callback) not in self._warned_shared:
                    self._warned_shared.add(id(callback))
                    warnings.warn(
                        f"callback {type(callback).__name__} cannot be deep-copied "
                        f"({type(error).__name__}: {error}); the same instance "
                        "serves every trial",
                        stacklevel=2,
                    )
                copies.append(callback)
        return copies

    def run_trial(self, trial, *args, **kwargs):
        try:
            return super().run_trial(trial, *args, **kwargs)
        except ToolkitError as error:
            # Hyperparameters that cannot build fail the same way on a retry.
            raise kt.errors.FailedTrialError(f"{type(error).__name__}: {error}") from error

    # HParams sessions.
    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        clear_run_dir(self.get_trial_dir(trial.trial_id))
        hparams = session_hparams(trial.hyperparameters.values)
        writers = []
        for execution in range(self.executions_per_trial):
            writer = tf.summary.create_file_writer(self.run_dir(trial.trial_id, execution))
            with writer.as_default():
                hparams_api.hparams(hparams, trial_id=f"trial_{trial.trial_id}")
            writer.flush()
            writers.append(writer)
        self._session_writers[trial.trial_id] = writers

    def on_trial_end(self, trial):
        status, message = trial.status, trial.message
        try:
            super().on_trial_end(trial)
        finally:
            record = self.oracle.get_trial(trial.trial_id)
            succeeded = status == _COMPLETED and record.score is not None
            score = record.score if succeeded else None
            for writer in self._session_writers.pop(trial.trial_id, []):
                write_session_end(writer, succeeded, score, record.best_step, message)

    # The experiment, the chief's server, resuming.
    def search(self, *fit_args, **fit_kwargs):
        if not self._is_worker():
            self.write_experiment()
        if is_chief():
            self.save()
            serve_oracle(self.oracle, timeout_s=self.chief_timeout_s)
            return
        super().search(*fit_args, **fit_kwargs)

    def write_experiment(self):
        """Writes the HParams experiment into the search directory, once."""
        if glob.glob(os.path.join(self.project_dir, f"*{EXPERIMENT_SUFFIX}")):
            return
        hparams = hparam_domains(self.oracle.get_space()) + self.tuner_hparams()
        writer = tf.summary.create_file_writer(
            self.project_dir, filename_suffix=EXPERIMENT_SUFFIX
        )
        with writer.as_default():
            hparams_api.hparams_config(hparams=hparams, metrics=metric_infos(self.oracle))
        writer.close()

    def tuner_hparams(self):
        """HParams the tuner adds to each trial (Hyperband's rounds)."""
        return []

    def reload(self):
        super().reload()
        if self._is_worker():
            return
        # A kill between keras-tuner saving a new trial and its oracle leaves
        # a RUNNING trial that is neither ongoing nor queued: queue it too.
        queued = set(self.oracle._retry_queue)
        for trial_id in self.oracle.start_order:
            trial = self.oracle.trials.get(trial_id)
            if trial is not None and trial.status == _RUNNING and trial_id not in queued:
                self.oracle._retry_queue.append(trial_id)

    # After the search (chief or single process).
    def leaderboard(self):
        """Every trial, best first: completed by score, then the others."""
        maximize = self.oracle.objective.direction == "max"
        trials = list(self.oracle.trials.values())
        done = [t for t in trials if t.status == _COMPLETED and t.score is not None]
        done.sort(key=lambda t: t.score, reverse=maximize)
        rest = sorted((t for t in trials if t not in done), key=lambda t: t.trial_id)
        return [
            LeaderboardRow(
                rank=i + 1 if t in done else None,
                trial_id=t.trial_id,
                status=t.status,
                score=t.score if t in done else None,
                hyperparameters=session_hparams(t.hyperparameters.values),
                reason=failure_reason(t.message) if t not in done else "",
            )
            for i, t in enumerate(done + rest)
        ]

    def write_leaderboard(self, rows, top=10):
        writer = tf.summary.create_file_writer(self.project_dir)
        with writer.as_default():
            tf.summary.text(
                "leaderboard",
                leaderboard_markdown(rows[:top], self.oracle.objective.name),
                step=sum(row.status == _COMPLETED for row in rows),
            )
        writer.close()

    def export_best_model(self, path=None):
        """Saves the best trial's model as `.keras`; returns the path, or None."""
        if not any(t.status == _COMPLETED for t in self.oracle.trials.values()):
            return None
        path = path or os.path.join(self.project_dir, BEST_MODEL_FILE)
        with warnings.catch_warnings():
            # keras-tuner reloads weights only; the optimizer starts afresh.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = self.get_best_models(1)[0]
        # A built optimizer saves its slots, so the file loads without warnings.
        model.optimizer.build(model.trainable_variables)
        training.save_model_atomically(model, path)
        return path


class RandomSearch(ToolkitTunerMixin, kt.RandomSearch):
    """`keras_tuner.RandomSearch` with the toolkit's run directories and HParams."""


class BayesianOptimization(ToolkitTunerMixin, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with the toolkit's run directories and HParams."""


class GridSearch(ToolkitTunerMixin, kt.GridSearch):
    """`keras_tuner.GridSearch` with the toolkit's run directories and HParams."""


class Hyperband(ToolkitTunerMixin, kt.Hyperband):
    """`keras_tuner.Hyperband` with the toolkit's run directories and HParams."""

    def tuner_hparams(self):
        oracle = self.oracle
        epochs, brackets = oracle.max_epochs, oracle._get_num_brackets()
        return [
            hparams_api.HParam("tuner/epochs", hparams_api.IntInterval(1, epochs)),
            hparams_api.HParam("tuner/initial_epoch", hparams_api.IntInterval(0, epochs)),
            hparams_api.HParam("tuner/bracket", hparams_api.IntInterval(0, brackets - 1)),
            hparams_api.HParam("tuner/round", hparams_api.IntInterval(0, brackets - 1)),
        ]


TUNER_CLASSES = {
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "grid": GridSearch,
}


def make_tuner(kind, hypermodel, *, pipelines, directory, project_name,
               max_trials, epochs, executions_per_trial=1, seed=0,
               overwrite=False, hyperparameters=None, tune_new_entries=True,
               callback_factory=None, chief_timeout_s=None):
    """A toolkit tuner of `kind` (one of `TUNERS`) maximizing `val_accuracy`.

    Raises:
        ConfigError: unknown `kind`, or `max_trials` / `epochs` /
            `executions_per_trial` below 1.
    """
    if kind not in TUNER_CLASSES:
        raise ConfigError(f"--tuner must be one of {', '.join(TUNERS)}, received: {kind!r}")
    for name, value in (("max_trials", max_trials), ("epochs", epochs),
                        ("executions_per_trial", executions_per_trial)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"--{name.replace('_', '-')} must be a positive integer, received: {value!r}"
            )
    options = dict(
        hypermodel=hypermodel,
        objective=kt.Objective(OBJECTIVE, "max"),
        seed=oracle_seed(seed),
        hyperparameters=hyperparameters,
        tune_new_entries=tune_new_entries,
        # The spaces hold combinations that cannot build: never give up on them.
        max_consecutive_failed_trials=max(3, max_trials + 1),
        directory=os.fspath(directory),
        project_name=project_name,
        overwrite=overwrite,
        executions_per_trial=executions_per_trial,
        pipelines=pipelines,
        callback_factory=callback_factory,
        chief_timeout_s=chief_timeout_s,
    )
    if kind == "hyperband":
        tuner = Hyperband(max_epochs=epochs, factor=3, **options)
        tuner.oracle.max_trials = max_trials
        return tuner
    return TUNER_CLASSES[kind](max_trials=max_trials, **options)


def oracle_seed(seed):
    """The oracle's seed for `--seed`: keras-tuner draws a random one for 0."""
    return seed + 1


@dataclasses.dataclass(frozen=True)
class LeaderboardRow:
    rank: int | None
    trial_id: str
    status: str
    score: float | None
    hyperparameters: dict
    reason: str


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


def metric_infos(oracle):
    """The objective (best value of the trial) and the epoch metrics."""
    objective = oracle.objective.name
    train, validation = api_pb2.DATASET_TRAINING, api_pb2.DATASET_VALIDATION
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


def write_session_end(writer, succeeded, score, best_step, message):
    """Ends an HParams session: status, the objective's best value, the reason."""
    status = api_pb2.STATUS_SUCCESS if succeeded else api_pb2.STATUS_FAILURE
    with writer.as_default():
        if score is not None and math.isfinite(score):
            tf.summary.scalar(f"best_{OBJECTIVE}", score, step=int(best_step or 0))
        reason = "" if succeeded else failure_reason(message)
        tf.summary.text("trial_status", "SUCCESS" if succeeded else f"FAILED: {reason}", step=0)
        end = hparams_summary.session_end_pb(status)
        tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=0)
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


def clear_run_dir(trial_dir):
    """Removes what an interrupted attempt of the trial left, but its record."""
    for entry in os.listdir(trial_dir):
        if entry == _TRIAL_RECORD:
            continue
        path = os.path.join(trial_dir, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def leaderboard_markdown(rows, objective):
    """A Markdown table of `rows` for TensorBoard's text dashboard."""
    lines = [
        f"| rank | trial | {objective} | status | hyperparameters |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.rank or '-'} | {row.trial_id} | {_score(row.score)} | "
            f"{row.status}{': ' + row.reason if row.reason else ''} | "
            f"{_values(row.hyperparameters)} |"
        )
    return "\n".join(lines)


def leaderboard_text(rows, objective):
    """The leaderboard as plain text for the terminal."""
    lines = [f"{'rank':>4}  {'trial':>5}  {objective:>12}  {'status':<9}  hyperparameters"]
    for row in rows:
        detail = row.reason if row.reason else _values(row.hyperparameters)
        lines.append(
            f"{row.rank or '-':>4}  {row.trial_id:>5}  {_score(row.score):>12}  "
            f"{row.status:<9}  {detail}"
        )
    return "\n".join(lines)


def _score(score):
    return "-" if score is None else f"{score:.4f}"


def _values(values):
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def is_chief():
    """Whether this process is keras-tuner's chief (serves the oracle)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" in os.environ.get(
        "KERASTUNER_TUNER_ID", ""
    )


def serve_oracle(oracle, *, poll_s=0.2, timeout_s=None):
    """Serves `oracle` to the workers until the search is over.

    keras-tuner's own server polls every 20 s once the search has stopped
    and never gives up; this one polls every `poll_s` and raises
    `TimeoutError` after `timeout_s` seconds (when not `None`).
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = (
        f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ConfigError(f"--chief: cannot listen on {address}")
    server.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the search did not finish within {timeout_s} s")
            time.sleep(poll_s)
    finally:
        server.stop(grace=1)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    search_dir: str
    best_model_path: str | None
    leaderboard: list


def run_search(arrays, *, space, tuner="random", max_trials=10, epochs=3,
               executions_per_trial=1, logdir="logs", name=None, overwrite=False,
               seed=0, limit=None, batch_size=128, validation_split=0.1,
               verbose=2, callbacks=(), **tuner_options):
    """Runs (or resumes, or serves, or works on) a search; returns a `SearchResult`.

    The objective is `val_accuracy` on `validation_split` of the training
    images, so the test split stays out of model selection. A worker returns
    an empty leaderboard: the chief owns the results.
    """
    from toolkit import data as data_lib
    from toolkit import search_spaces

    pipelines = data_lib.load_data(
        arrays, batch_size=batch_size, seed=seed, epochs=epochs,
        validation_split=validation_split, limit=limit,
    )
    training.seed_everything(seed)
    hypermodel = search_spaces.make_hypermodel(
        space, pipelines.input_shape, pipelines.num_classes
    )
    name = name or f"tune-{space}-{tuner}"
    search_tuner = make_tuner(
        tuner, hypermodel, pipelines=pipelines, directory=logdir, project_name=name,
        max_trials=max_trials, epochs=epochs, executions_per_trial=executions_per_trial,
        seed=seed, overwrite=overwrite, **tuner_options,
    )
    search_tuner.search(
        pipelines.train,
        epochs=epochs,
        steps_per_epoch=pipelines.steps_per_epoch,
        validation_data=pipelines.validation,
        shuffle=False,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    if search_tuner._is_worker():
        return SearchResult(search_tuner.project_dir, None, [])
    rows = search_tuner.leaderboard()
    search_tuner.write_leaderboard(rows)
    return SearchResult(search_tuner.project_dir, search_tuner.export_best_model(), rows)
