"""`run_search` and `inspect_search`: what `ktb tune` runs, put together.

`run_search` records the options the search was made with in
`<search>/search.json`, so `inspect_search` (`ktb tune --inspect-best`)
rebuilds the same space on the same validation split, loads the best trial
and inspects it, without running any trial.
"""

import dataclasses
import json
import os

import tensorflow as tf
from keras_tuner.engine.trial import TrialStatus

from .. import data as data_lib
from .. import search_spaces, training
from ..errors import ConfigError
from ._inspect import BEST_MODEL_FILE
from ._keras_tuner_compat import is_oracle_worker
from ._tuners import make_tuner

SEARCH_RECORD = "search.json"
_ORACLE_RECORD = "oracle.json"  # keras-tuner's record of the search


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What a search leaves: its directory, the winner's run and model, the leaderboard."""

    search_dir: str
    best_model_path: str | None
    leaderboard: list
    best_dir: str | None = None


def run_search(arrays, *, space, tuner="random", max_trials=10, epochs=3,
               executions_per_trial=1, logdir="logs", name=None, overwrite=False,
               seed=0, limit=None, batch_size=128, validation_split=0.1,
               verbose=2, callbacks=(), trial_callbacks="light", **tuner_options):
    """Runs (or resumes, or serves, or works on) a search; returns a `SearchResult`.

    The objective is `val_accuracy` on `validation_split` of the training
    images, so the test split stays out of model selection. Running the same
    search again resumes it unless `overwrite`. When it ends, the best trial
    is inspected with every callback into `<search>/best/` (see
    `_inspect`). A worker returns an empty leaderboard: the chief owns the
    results.

    Args:
        arrays: the data's `toolkit.data.Arrays`.
        space: `"sequential"`, `"functional"`, `"subclassed"` or `"all"`.
        tuner: one of `toolkit.config.TUNERS`. Defaults to `"random"`.
        max_trials: trials to run. Defaults to `10`.
        epochs: epochs per trial (Hyperband's most). Defaults to `3`.
        executions_per_trial: models trained per trial. Defaults to `1`.
        logdir: the log root. Defaults to `"logs"`.
        name: the search directory under `logdir`. Defaults to
            `tune-<space>-<tuner>`.
        overwrite: start afresh instead of resuming. Defaults to `False`.
        seed: seeds the data order, the models and the oracle. Defaults to
            `0`.
        limit: keep only the first `limit` images. Defaults to `None`.
        batch_size: images per batch. Defaults to `128`.
        validation_split: fraction of the training images the objective is
            measured on. Defaults to `0.1`.
        verbose: Keras' `verbose` for each fit. Defaults to `2`.
        callbacks: user callbacks for every trial. Defaults to `()`.
        trial_callbacks: what each trial writes, `"light"` or `"full"`.
            Defaults to `"light"`.
        **tuner_options: passed to `make_tuner`.

    Raises:
        ConfigError: see `make_tuner` and `search_spaces.make_hypermodel`.
        DataError: see `data.load_data`.
    """
    options = dict(space=space, tuner=tuner, max_trials=max_trials, epochs=epochs,
                   executions_per_trial=executions_per_trial, seed=seed, limit=limit,
                   batch_size=batch_size, validation_split=validation_split)
    pipelines, hypermodel = _prepare(arrays, options)
    name = name or f"tune-{space}-{tuner}"
    search_tuner = make_tuner(
        tuner, hypermodel, pipelines=pipelines, directory=logdir, project_name=name,
        max_trials=max_trials, epochs=epochs, executions_per_trial=executions_per_trial,
        seed=seed, overwrite=overwrite, trial_callbacks=trial_callbacks, **tuner_options,
    )
    if not is_oracle_worker():
        record = os.path.join(search_tuner.project_dir, SEARCH_RECORD)
        with tf.io.gfile.GFile(record, "w") as handle:
            json.dump(options, handle, indent=2, sort_keys=True)
    search_tuner.search(
        pipelines.train, epochs=epochs, steps_per_epoch=pipelines.steps_per_epoch,
        validation_data=pipelines.validation, shuffle=False, callbacks=list(callbacks),
        verbose=verbose,
    )
    if is_oracle_worker():
        return SearchResult(search_tuner.project_dir, None, [])
    return _finish(search_tuner)


def inspect_search(arrays, *, logdir, name):
    """Inspects the best trial of the finished search `<logdir>/<name>` into `best/`.

    Runs no trial. The space, data options and split are those recorded by
    `run_search`; `arrays` must be the data the search was run on. Doing it
    twice leaves the same `best/` run.

    Raises:
        ConfigError: the directory holds no search made by `ktb tune`, or no
            trial of it completed; nothing is written then.
    """
    search_dir = os.path.join(logdir, name)
    record = os.path.join(search_dir, SEARCH_RECORD)
    if not (tf.io.gfile.exists(record)
            and tf.io.gfile.exists(os.path.join(search_dir, _ORACLE_RECORD))):
        raise ConfigError(
            f"--inspect-best: {search_dir} holds no search made by ktb tune "
            f"(no {SEARCH_RECORD} and {_ORACLE_RECORD}); give the --logdir and --name of one"
        )
    if not _any_completed(search_dir):
        raise ConfigError(
            f"--inspect-best: no trial of {search_dir} completed, so there is no best "
            "trial to inspect"
        )
    with tf.io.gfile.GFile(record) as handle:
        options = json.load(handle)
    pipelines, hypermodel = _prepare(arrays, options)
    search_tuner = make_tuner(
        options["tuner"], hypermodel, pipelines=pipelines, directory=logdir,
        project_name=name, max_trials=options["max_trials"], epochs=options["epochs"],
        executions_per_trial=options["executions_per_trial"], seed=options["seed"],
    )
    # The leaderboard was written when the search ended; writing it again
    # would add an events file per call.
    return _finish(search_tuner, write_leaderboard=False)


def _prepare(arrays, options):
    pipelines = data_lib.load_data(
        arrays, batch_size=options["batch_size"], seed=options["seed"],
        epochs=options["epochs"], validation_split=options["validation_split"],
        limit=options["limit"],
    )
    training.seed_everything(options["seed"])
    hypermodel = search_spaces.make_hypermodel(
        options["space"], pipelines.input_shape, pipelines.num_classes,
        steps_per_epoch=pipelines.steps_per_epoch,
    )
    return pipelines, hypermodel


def _finish(search_tuner, write_leaderboard=True):
    rows = search_tuner.leaderboard()
    if write_leaderboard:
        search_tuner.write_leaderboard(rows)
    best_dir = search_tuner.inspect_best()
    best_model = None if best_dir is None else os.path.join(best_dir, BEST_MODEL_FILE)
    return SearchResult(search_tuner.project_dir, best_model, rows, best_dir)


def _any_completed(search_dir):
    with tf.io.gfile.GFile(os.path.join(search_dir, _ORACLE_RECORD)) as handle:
        trial_ids = json.load(handle).get("end_order", [])
    for trial_id in trial_ids:
        path = os.path.join(search_dir, f"trial_{trial_id}", "trial.json")
        try:
            with tf.io.gfile.GFile(path) as handle:
                if json.load(handle).get("status") == TrialStatus.COMPLETED:
                    return True
        except (tf.errors.NotFoundError, ValueError):
            continue  # a trial killed before keras-tuner recorded it
    return False
