"""Keras Tuner's tuners with the toolkit's run directories, callbacks and HParams.

`ToolkitTunerMixin`, mixed into each keras-tuner tuner below, gives every
trial execution its own run directory and fresh toolkit callbacks, shares
user callbacks that cannot be deep-copied, records HParams sessions,
resumes an interrupted trial and, on the chief of a distributed search,
serves the oracle. See the `toolkit.tuning` package docstring.
"""

import copy
import os
import shutil
import warnings

import keras_tuner as kt
from keras_tuner.engine.trial import TrialStatus

from .._remote import is_url
from ..config import TUNERS
from ..errors import ConfigError, ToolkitError
from . import _keras_tuner_compat as compat
from ._hparams import hyperband_hparams, write_experiment, write_session_end, write_session_start
from ._inspect import inspect_best
from ._leaderboard import leaderboard_rows, write_leaderboard
from ._oracle_server import serve_oracle
from ._progress import Progress
from ._trial_callbacks import trial_callback_factory

OBJECTIVE = "val_accuracy"
_TRIAL_RECORD = "trial.json"  # keras-tuner's record of the trial, kept on reruns


class ToolkitTunerMixin(compat.TunerCallbackHooks):
    """Per-trial run directories, toolkit callbacks and HParams sessions.

    Mix in before a `keras_tuner.Tuner` subclass; see the `toolkit.tuning`
    package docstring.

    Args:
        pipelines: the `toolkit.data.DataPipelines` of the search; the
            callback factory gets it.
        callback_factory: `(run_dir, pipelines) -> [callbacks]`, called per
            trial execution. Defaults to the light set
            (`_trial_callbacks.light_callbacks`).
        chief_timeout_s: the longest a chief serves the oracle, or `None`.
            Defaults to `None`.
        progress: called with one line of text at the end of each trial
            (trial i of N, the best so far, time left), or `None`.
            Defaults to `None`.
    """

    def __init__(self, *args, pipelines=None, callback_factory=None,
                 chief_timeout_s=None, progress=None, **kwargs):
        self.pipelines = pipelines
        self.callback_factory = callback_factory or trial_callback_factory("light")
        self.chief_timeout_s = chief_timeout_s
        self.progress = progress
        self._session_writers = {}
        self._finishing = {}
        self._warned_shared = set()
        super().__init__(*args, **kwargs)
        self._progress = Progress(self.oracle)

    # Where a trial writes.
    def run_dir(self, trial_id, execution=0):
        trial_dir = self.get_trial_dir(trial_id)
        if self.executions_per_trial == 1:
            return trial_dir
        return os.path.join(trial_dir, f"execution_{execution}")

    def add_execution_callbacks(self, callbacks, trial, execution):
        """Adds a fresh set from `callback_factory`, writing into the execution's run directory."""
        fresh = self.callback_factory(self.run_dir(trial.trial_id, execution), self.pipelines)
        callbacks.extend(fresh)
        # Files a callback finishes after fit (the light set's history
        # plot) are waited for one trial later, while the next one trains.
        self._finishing.setdefault(trial.trial_id, []).extend(
            c for c in fresh if callable(getattr(c, "wait", None)))

    def wait_for_files(self, keep=None):
        """Waits for the files of every trial's callbacks but `keep`'s."""
        for trial_id in [t for t in self._finishing if t != keep]:
            for callback in self._finishing.pop(trial_id):
                callback.wait()

    def copy_callbacks(self, callbacks):
        """Deep copies of the user's callbacks; one that cannot be copied is shared."""
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
        self._progress.begin(trial.trial_id)
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
            succeeded = status == TrialStatus.COMPLETED and record.score is not None
            score = record.score if succeeded else None
            for writer in self._session_writers.pop(trial.trial_id, []):
                write_session_end(writer, succeeded, score, record.best_step, message,
                                  objective=OBJECTIVE)
            if self.progress is not None:
                self.progress(self._progress.end(record))
            self.wait_for_files(keep=trial.trial_id)

    # The experiment, the chief's server, resuming.
    def search(self, *fit_args, **fit_kwargs):
        if not compat.is_oracle_worker():
            self.write_experiment()
        if compat.is_oracle_chief():
            self.save()
            serve_oracle(self.oracle, timeout_s=self.chief_timeout_s)
            return
        try:
            super().search(*fit_args, **fit_kwargs)
        finally:
            self.wait_for_files()

    def write_experiment(self):
        """Writes the HParams experiment into the search directory, once."""
        write_experiment(self.project_dir, self.oracle, self.tuner_hparams())

    def tuner_hparams(self):
        """HParams the tuner adds to each trial (Hyperband's rounds)."""
        return []

    def reload(self):
        super().reload()
        if compat.is_oracle_worker():
            return
        # A kill between keras-tuner saving a new trial and its oracle leaves
        # a RUNNING trial that is neither ongoing nor queued: queue it too.
        for trial_id in self.oracle.start_order:
            trial = self.oracle.trials.get(trial_id)
            if trial is not None and trial.status == TrialStatus.RUNNING:
                compat.queue_for_retry(self.oracle, trial_id)

    # After the search (chief or single process).
    def leaderboard(self):
        """Every trial, best first: completed by score, then the others."""
        return leaderboard_rows(self.oracle)

    def write_leaderboard(self, rows, top=10):
        """Writes the `top` rows as the `leaderboard` text in the search directory."""
        write_leaderboard(self.project_dir, rows, self.oracle.objective.name, top=top)

    def inspect_best(self):
        """Writes the best trial into `<search>/best/` with every callback.

        Returns:
            The path of `best/`, or `None` when no trial completed.
        """
        return inspect_best(self, self.pipelines)


class RandomSearch(ToolkitTunerMixin, kt.RandomSearch):
    """`keras_tuner.RandomSearch` with the toolkit's run directories and HParams."""


class BayesianOptimization(ToolkitTunerMixin, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with the toolkit's run directories and HParams."""


class GridSearch(ToolkitTunerMixin, kt.GridSearch):
    """`keras_tuner.GridSearch` with the toolkit's run directories and HParams."""


class Hyperband(ToolkitTunerMixin, kt.Hyperband):
    """`keras_tuner.Hyperband` with the toolkit's run directories and HParams."""

    def tuner_hparams(self):
        return hyperband_hparams(self.oracle.max_epochs, compat.hyperband_brackets(self.oracle))


TUNER_CLASSES = {
    "random": RandomSearch, "bayesian": BayesianOptimization,
    "hyperband": Hyperband, "grid": GridSearch,
}


def make_tuner(kind, hypermodel, *, pipelines, directory, project_name,
               max_trials, epochs, executions_per_trial=1, seed=0,
               overwrite=False, hyperparameters=None, tune_new_entries=True,
               trial_callbacks="light", callback_factory=None, chief_timeout_s=None,
               progress=None):
    """A toolkit tuner of `kind` (one of `TUNERS`) maximizing `val_accuracy`.

    `trial_callbacks` (`"light"` or `"full"`) picks what each trial writes
    (see `_trial_callbacks`); a `callback_factory` replaces it.

    Raises:
        ConfigError: unknown `kind` or `trial_callbacks`, or `max_trials` /
            `epochs` / `executions_per_trial` below 1.
    """
    callback_factory = callback_factory or trial_callback_factory(trial_callbacks)
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
        progress=progress,
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
    """Removes what an interrupted attempt of the trial left, but its record.

    A search directory given as a URL is cleared through `tf.io.gfile`.
    """
    if is_url(trial_dir):
        _clear_url_run_dir(trial_dir)
        return
    for entry in os.listdir(trial_dir):
        if entry == _TRIAL_RECORD:
            continue
        path = os.path.join(trial_dir, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def _clear_url_run_dir(trial_dir):
    import tensorflow as tf

    for entry in tf.io.gfile.listdir(trial_dir):
        entry = entry.rstrip("/")  # gfile marks a subdirectory with a "/"
        if entry == _TRIAL_RECORD:
            continue
        path = f"{trial_dir.rstrip('/')}/{entry}"
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
