"""`run_search`: data, search space and tuner put together, as `ktb tune` runs them."""

import dataclasses

from .. import data as data_lib
from .. import search_spaces, training
from ._keras_tuner_compat import is_oracle_worker
from ._tuners import make_tuner


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What a search leaves: its directory, the best model's file and the leaderboard."""

    search_dir: str
    best_model_path: str | None
    leaderboard: list


def run_search(arrays, *, space, tuner="random", max_trials=10, epochs=3,
               executions_per_trial=1, logdir="logs", name=None, overwrite=False,
               seed=0, limit=None, batch_size=128, validation_split=0.1,
               verbose=2, callbacks=(), **tuner_options):
    """Runs (or resumes, or serves, or works on) a search; returns a `SearchResult`.

    The objective is `val_accuracy` on `validation_split` of the training
    images, so the test split stays out of model selection. Running the same
    search again resumes it unless `overwrite`. A worker returns an empty
    leaderboard: the chief owns the results.

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
        **tuner_options: passed to `make_tuner`.

    Raises:
        ConfigError: see `make_tuner` and `search_spaces.make_hypermodel`.
        DataError: see `data.load_data`.
    """
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
    if is_oracle_worker():
        return SearchResult(search_tuner.project_dir, None, [])
    rows = search_tuner.leaderboard()
    search_tuner.write_leaderboard(rows)
    return SearchResult(search_tuner.project_dir, search_tuner.export_best_model(), rows)
