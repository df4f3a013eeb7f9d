"""Keras Tuner searches with the toolkit's TensorBoard callbacks and HParams.

keras-tuner reroutes only callbacks whose class is named `TensorBoard`,
deep-copies every callback (and fails the search when one cannot be copied),
and writes no HParams data. The tuners here (`RandomSearch`,
`BayesianOptimization`, `Hyperband`, `GridSearch`, keras-tuner's with
`ToolkitTunerMixin`) fix that:

- each trial runs in its own run directory `<logdir>/<name>/trial_<id>/`
  (`.../execution_<n>/` with several executions per trial), which is also
  keras-tuner's trial directory, with fresh toolkit callbacks for every
  execution, so nothing of ours is deep-copied: the light set by default
  (scalars with the learning rate, weight and gradient histograms,
  `gradient_norm`, `update_ratio`, a PNG history plot), or
  `training.build_callbacks` with `trial_callbacks="full"`; a user
  callback that cannot be deep-copied is shared across trials with one
  warning;
- when the search ends, the best trial's model (keras-tuner's checkpoint
  of its best epoch) is inspected with every callback into
  `<logdir>/<name>/best/`, a run of its own, with `best_model.keras`;
  `inspect_search` does it again for a finished search;
- each run directory is an HParams session (status, failure reason, the
  objective's best value), and `<logdir>/<name>/` holds the HParams
  experiment with the declared domains of the space and a `leaderboard`
  text; a trial whose hyperparameters cannot build is recorded as FAILED
  and the search goes on;
- a rerun of the same search resumes it: the interrupted trial's run
  directory is cleared and the trial is run again;
- in distributed mode (`set_distributed_role`) the chief serves the oracle
  with a bounded wait and the workers run the trials.

`run_search` puts data, search space and tuner together as `ktb tune` does;
each trial's end is one `progress` line (trial i of N, best so far, time
left).

Example:

    from keras_tb_toolkit.toolkit import data, tuning

    result = tuning.run_search(data.load_arrays(), space="sequential",
                               max_trials=3, epochs=1, limit=512)
    print(tuning.leaderboard_text(result.leaderboard, tuning.OBJECTIVE))

Private modules, one concern each: `_tuners` (the mixin and the tuners),
`_search` (`run_search`, `inspect_search`), `_trial_callbacks` (what a
trial writes), `_inspect` (`best/`), `_progress` (the line per trial),
`_hparams` (experiment and sessions),
`_leaderboard` (ranking and text), `_oracle_server` (the chief) and
`_keras_tuner_compat`, the one place that names keras-tuner internals.
"""

from ._inspect import BEST_DIR, BEST_MODEL_FILE
from ._keras_tuner_compat import set_distributed_role
from ._leaderboard import LeaderboardRow, leaderboard_text
from ._search import SEARCH_RECORD, SearchResult, inspect_search, run_search
from ._trial_callbacks import TRIAL_CALLBACKS, light_callbacks
from ._tuners import (
    OBJECTIVE,
    BayesianOptimization,
    GridSearch,
    Hyperband,
    RandomSearch,
    ToolkitTunerMixin,
    make_tuner,
    oracle_seed,
)

__all__ = [
    "BEST_DIR",
    "BEST_MODEL_FILE",
    "OBJECTIVE",
    "BayesianOptimization",
    "GridSearch",
    "Hyperband",
    "LeaderboardRow",
    "RandomSearch",
    "SEARCH_RECORD",
    "SearchResult",
    "TRIAL_CALLBACKS",
    "ToolkitTunerMixin",
    "inspect_search",
    "leaderboard_text",
    "light_callbacks",
    "make_tuner",
    "oracle_seed",
    "run_search",
    "set_distributed_role",
]
