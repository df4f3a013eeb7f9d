"""Keras Tuner searches with the toolkit's TensorBoard callbacks and HParams.

keras-tuner reroutes only callbacks whose class is named `TensorBoard`,
deep-copies every callback (and fails the search when one cannot be copied),
and writes no HParams data. `ToolkitTunerMixin`, mixed into each keras-tuner
tuner below, fixes that:

- each trial runs in its own run directory `<logdir>/<name>/trial_<id>/`
  (`.../execution_<n>/` with several executions per trial), which is also
  keras-tuner's trial directory, with fresh toolkit callbacks from
  `training.build_callbacks(run_dir, pipelines)` for every execution, so
  nothing of ours is deep-copied; a user callback that cannot be deep-copied
  is shared across trials with one warning;
- each run directory is an HParams session (status, failure reason, the
  objective's best value), and `<logdir>/<name>/` holds the HParams
  experiment with the declared domains of the space and a `leaderboard`
  text; a trial whose hyperparameters cannot build is recorded as FAILED
  and the search goes on;
- a rerun of the same search resumes it: the interrupted trial's run
  directory is cleared and the trial is run again;
- in distributed mode the chief serves the oracle with a bounded wait and
  the workers run the trials.

The helpers live in private modules, one concern each, and their public
names are re-exported here: `toolkit._hparams` (experiment and sessions),
`toolkit._leaderboard` (ranking and text), `toolkit._distributed` (the
chief's role and its oracle server).
"""

import copy
import dataclasses
import os
import shutil
import warnings

import keras_tuner as kt
from keras_tuner.src.engine import trial as trial_module

from . import training
from ._distributed import is_chief, serve_oracle
from ._hparams import (
    EXPERIMENT_SUFFIX, HYPERBAND_HPARAMS, failure_reason, hparam_domains, hyperband_hparams,
    metric_infos, session_hparams, write_experiment, write_session_end, write_session_start,
)
from ._leaderboard import (
    LeaderboardRow, leaderboard_markdown, leaderboard_rows, leaderboard_text, write_leaderboard,
)
from .errors import ConfigError, ToolkitError

TUNERS = ("random", "bayesian", "hyperband", "grid")
OBJECTIVE = "val_accuracy"
BEST_MODEL_FILE = "best_model.keras"
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
            trial execution. Defaults to `training.build_callbacks`.
        chief_timeout_s: the longest a chief serves the oracle, or `None`.
            Defaults to `None`.
    """

    def __init__(self, *args, pipelines=None, callback_factory=None,
                 chief_timeout_s=None, **kwargs):
        self.pipelines = pipelines
        self.callback_factory = callback_factory or training.build_callbacks
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
        run_dirs = [self.run_dir(trial.trial_id, n) for n in range(self.executions_per_trial)]
        self._session_writers[trial.trial_id] = write_session_start(
            run_dirs, trial.hyperparameters.values, group_name=f"trial_{trial.trial_id}"
        )

    def on_trial_end(self, trial):
        status, message = trial.status, trial.message
        try:
            super().on_trial_end(trial)
        finally:
            record = self.oracle.get_trial(trial.trial_id)
            succeeded = status == _COMPLETED and record.score is not None
            score = record.score if succeeded else None
            for writer in self._session_writers.pop(trial.trial_id, []):
                write_session_end(writer, succeeded, score, record.best_step, message,
                                  objective=OBJECTIVE)

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
        write_experiment(self.project_dir, self.oracle, self.tuner_hparams())

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
        return leaderboard_rows(self.oracle)

    def write_leaderboard(self, rows, top=10):
        """Writes the `top` rows as the `leaderboard` text in the search directory."""
        write_leaderboard(self.project_dir, rows, self.oracle.objective.name, top=top)

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
        return hyperband_hparams(self.oracle.max_epochs, self.oracle._get_num_brackets())


TUNER_CLASSES = {
    "random": RandomSearch, "bayesian": BayesianOptimization,
    "hyperband": Hyperband, "grid": GridSearch,
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
        hypermodel=hypermodel, objective=kt.Objective(OBJECTIVE, "max"),
        seed=oracle_seed(seed), hyperparameters=hyperparameters,
        tune_new_entries=tune_new_entries,
        # The spaces hold combinations that cannot build: never give up on them.
        max_consecutive_failed_trials=max(3, max_trials + 1),
        directory=os.fspath(directory), project_name=project_name, overwrite=overwrite,
        executions_per_trial=executions_per_trial, pipelines=pipelines,
        callback_factory=callback_factory, chief_timeout_s=chief_timeout_s,
    )
    if kind == "hyperband":
        tuner = Hyperband(max_epochs=epochs, factor=3, **options)
        tuner.oracle.max_trials = max_trials
        return tuner
    return TUNER_CLASSES[kind](max_trials=max_trials, **options)


def oracle_seed(seed):
    """The oracle's seed for `--seed`: keras-tuner draws a random one for 0."""
    return seed + 1


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
    from . import data as data_lib
    from . import search_spaces

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
        pipelines.train, epochs=epochs, steps_per_epoch=pipelines.steps_per_epoch,
        validation_data=pipelines.validation, shuffle=False, callbacks=list(callbacks),
        verbose=verbose,
    )
    if search_tuner._is_worker():
        return SearchResult(search_tuner.project_dir, None, [])
    rows = search_tuner.leaderboard()
    search_tuner.write_leaderboard(rows)
    return SearchResult(search_tuner.project_dir, search_tuner.export_best_model(), rows)
