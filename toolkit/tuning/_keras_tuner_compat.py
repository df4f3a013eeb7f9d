"""What `toolkit.tuning` relies on in keras-tuner beyond its public API.

The tuners, oracles, `HyperParameters`, `Objective`,
`errors.FailedTrialError` and `engine.trial.TrialStatus` are public
(`keras_tuner`, `keras_tuner.engine.*`) and used directly. keras-tuner 1.4
has no public way to do the following, so they are done here, and only here:

- Per-execution callbacks (`TunerCallbackHooks`). For each execution of a
  trial keras-tuner deep-copies every callback given to `search()`
  (`Tuner._deepcopy_callbacks(callbacks)`, which fails the whole search
  when one cannot be copied), then points callbacks whose class is named
  `TensorBoard` at the trial (`Tuner._configure_tensorboard_dir(callbacks,
  trial, execution)`). The mixin overrides these two private methods and
  forwards to public-named hooks, `copy_callbacks` and
  `add_execution_callbacks`.
- The distributed role. keras-tuner reads it from the environment variables
  in `ROLE_VARIABLES` (its documented protocol) and decides with
  `keras_tuner.src.distribute.utils.has_chief_oracle()` and
  `is_chief_oracle()`. `set_distributed_role` writes the variables;
  `is_oracle_chief` and `is_oracle_worker` ask keras-tuner's own functions,
  so the toolkit never decides differently from it.
- Serving the oracle on the chief (`add_oracle_service`, `search_is_over`).
  keras-tuner's `oracle_chief.start_server` polls every 20 s and never gives
  up; the toolkit runs its own loop around keras-tuner's servicer
  (`oracle_chief.OracleServicer(oracle)` and its `stop_triggered` flag,
  `oracle_chief.exit_chief(oracle)`) and gRPC registration
  (`protos.get_service_grpc().add_OracleServicer_to_server`).
- Oracle state. `queue_for_retry` appends to `Oracle._retry_queue` (the
  trial ids an oracle hands out again first); `hyperband_brackets` calls
  `Hyperband`'s oracle `_get_num_brackets()`.

`RELIED_ON` lists the module-level and class-level names;
`tests/test_compat.py` checks them and the two instance attributes, failing
with the installed keras-tuner version. Known to work with keras-tuner 1.4.8
(setup.cfg bounds the version accordingly).
"""

import os

from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.distribute import utils as distribute_utils

RELIED_ON = (
    ("keras_tuner.src.engine.tuner", "Tuner._deepcopy_callbacks"),
    ("keras_tuner.src.engine.tuner", "Tuner._configure_tensorboard_dir"),
    ("keras_tuner.src.distribute.utils", "has_chief_oracle"),
    ("keras_tuner.src.distribute.utils", "is_chief_oracle"),
    ("keras_tuner.src.distribute.oracle_chief", "OracleServicer"),
    ("keras_tuner.src.distribute.oracle_chief", "exit_chief"),
    ("keras_tuner.src.protos", "get_service_grpc"),
    ("keras_tuner.src.tuners.hyperband", "HyperbandOracle._get_num_brackets"),
)
ORACLE_HOST, ORACLE_PORT, TUNER_ID = (
    "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"
)
ROLE_VARIABLES = (ORACLE_HOST, ORACLE_PORT, TUNER_ID)


class TunerCallbackHooks:
    """keras-tuner's per-execution callback steps, as two public hooks.

    Mix in before a `keras_tuner.Tuner` subclass and override the hooks.
    """

    def _deepcopy_callbacks(self, callbacks):
        return self.copy_callbacks(callbacks)

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        super()._configure_tensorboard_dir(callbacks, trial, execution)
        self.add_execution_callbacks(callbacks, trial, execution)

    def copy_callbacks(self, callbacks):
        """The callbacks of one execution, copied from `search()`'s.

        Defaults to keras-tuner's: a deep copy, which fails the search when a
        callback cannot be copied.
        """
        return super()._deepcopy_callbacks(callbacks)

    def add_execution_callbacks(self, callbacks, trial, execution):
        """Adds callbacks to the list one execution of `trial` fits with.

        Called after keras-tuner has pointed its `TensorBoard` callbacks at
        the trial. Defaults to adding nothing.
        """


def set_distributed_role(oracle_host, oracle_port, tuner_id):
    """Makes this process keras-tuner's chief or one of its workers.

    Args:
        oracle_host: the chief's address (a worker) or the one it listens
            on (the chief).
        oracle_port: the chief's port.
        tuner_id: `"chief"`, or a worker's id unique to it such as
            `"worker0"`.
    """
    os.environ[ORACLE_HOST] = str(oracle_host)
    os.environ[ORACLE_PORT] = str(oracle_port)
    os.environ[TUNER_ID] = str(tuner_id)


def is_oracle_chief():
    """Whether this process is keras-tuner's chief: it serves the oracle, runs no trial."""
    return distribute_utils.is_chief_oracle()


def is_oracle_worker():
    """Whether this process is a keras-tuner worker: it runs the chief's trials."""
    return distribute_utils.has_chief_oracle() and not distribute_utils.is_chief_oracle()


def oracle_address():
    """`host:port` the chief serves the oracle on, from the environment."""
    return f"{os.environ[ORACLE_HOST]}:{os.environ[ORACLE_PORT]}"


def add_oracle_service(server, oracle):
    """Registers keras-tuner's oracle service for `oracle` on a gRPC `server`.

    Returns:
        The servicer, for `search_is_over`.
    """
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    return servicer


def search_is_over(servicer, oracle):
    """Whether every worker has stopped asking and the chief may exit."""
    return servicer.stop_triggered and oracle_chief.exit_chief(oracle)


def queue_for_retry(oracle, trial_id):
    """Has `oracle` hand out `trial_id` again before any new trial."""
    if trial_id not in oracle._retry_queue:
        oracle._retry_queue.append(trial_id)


def hyperband_brackets(oracle):
    """The number of brackets of a Hyperband `oracle`."""
    return oracle._get_num_brackets()
