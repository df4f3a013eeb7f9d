"""Run configurations, checked without TensorFlow.

`ktb` checks every argument, the log directory and the data file before
TensorFlow loads, so a usage error answers at once and writes nothing.
"""

import dataclasses
import json
import math
import os

from . import _remote, runs
from .cluster import check_tf_config
from .data import DATASETS, DEFAULT_DATASET, load_arrays
from .errors import ConfigError, DataError

API_STYLES = ("sequential", "functional", "subclassed")
# Search spaces and tuners of `ktb tune`, here so that the command line
# knows them before keras_tuner loads.
SPACES = API_STYLES + ("all",)
TUNERS = ("random", "bayesian", "hyperband", "grid")
LR_SCHEDULES = ("cosine", "constant")
# How `ktb train` spreads training: `auto` is one machine with TensorFlow's
# default strategy, `mirrored` every local device, `multi-worker` the
# machines TF_CONFIG names.
STRATEGIES = ("auto", "mirrored", "multi-worker")
CONFIG_FILE = "config.json"
# Ranges checked before TensorFlow loads. Seeds are what NumPy's and Keras'
# seeding accept. Epochs and batch sizes end far beyond any real run and far
# inside the int64 in which TensorFlow's data pipeline and learning-rate
# schedule count them: `--epochs 10**20` passed every other check and failed
# only in TensorFlow, with a traceback, after the run directory was made.
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1_000_000


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything `train()` needs.

    `validate()` rejects values outside their range and `load_arrays()`
    loads the data; `train()` runs both before it writes anything.
    """

    api: str = "sequential"
    data: str = DEFAULT_DATASET
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    logdir: str = "logs"
    run_name: str | None = None
    seed: int = 0
    limit: int | None = None
    deterministic: bool = False
    lr_schedule: str = "cosine"
    save_freq: object = "epoch"
    resume: bool = False
    # (start, stop) batches traced for the Profile dashboard, or None.
    profile_batches: tuple | None = None
    # One of STRATEGIES; chosen per invocation, like `profile_batches`.
    strategy: str = "auto"

    def validate(self):
        """Checks every field, the log directory and the run to resume.

        Loads nothing: the data is checked by `load_arrays`.

        Returns:
            This configuration, so calls chain.

        Raises:
            ConfigError: a field outside what is allowed, or `resume` without
                a `run_name` of an existing run.
            LogDirError: `logdir` cannot be created or written.
            RunLockedError: `resume` of a run another process is training.
        """
        if self.api not in API_STYLES:
            raise ConfigError(
                f"--api must be one of {', '.join(API_STYLES)}, "
                f"received: {self.api!r}"
            )
        for name, maximum in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH_SIZE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive integer, "
                    f"received: {value!r}"
                )
            if value > maximum:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be at most {maximum}, "
                    f"received: {value!r}"
                )
        if (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                or not 0 <= self.seed <= MAX_SEED):
            raise ConfigError(
                f"--seed must be an integer from 0 to {MAX_SEED}, "
                f"received: {self.seed!r}"
            )
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ConfigError(
                f"--limit must be a positive integer, received: {self.limit!r}"
            )
        if not (isinstance(self.learning_rate, (int, float))
                and math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(
                f"--learning-rate must be a finite number > 0, "
                f"received: {self.learning_rate!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, "
                f"received: {self.lr_schedule!r}"
            )
        if self.save_freq != "epoch" and (
            isinstance(self.save_freq, bool)
            or not isinstance(self.save_freq, int)
            or self.save_freq < 1
        ):
            raise ConfigError(
                "--save-freq must be 'epoch' or a positive number of batches, "
                f"received: {self.save_freq!r}"
            )
        check_profile_batches(self.profile_batches)
        runs.check_run_name(self.run_name)
        self._check_strategy()
        runs.check_writable(self.logdir)
        if self.resume:
            if self.run_name is None:
                raise ConfigError("--resume needs --run-name NAME, the run to continue")
            run_dir = runs.existing_run_dir(self.logdir, self.api, self.run_name)
            if self.strategy != "multi-worker":
                # Workers of one multi-worker run start in any order: the
                # chief's lock may already be there when another worker
                # checks, so only the chief's `RunLock` decides.
                runs.check_unlocked(run_dir)
        return self

    def _check_strategy(self):
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"--strategy must be one of {', '.join(STRATEGIES)}, "
                f"received: {self.strategy!r}"
            )
        if self.strategy != "multi-worker":
            return
        check_tf_config(os.environ.get("TF_CONFIG"))
        if self.run_name is None:
            raise ConfigError(
                "--strategy multi-worker needs --run-name NAME: every worker "
                "must name the same run directory"
            )

    def load_arrays(self):
        """Loads and checks the arrays of `data`.

        Returns:
            The data's `toolkit.data.Arrays`.

        Raises:
            DataError: the data set or file cannot be used; the message starts
                with the flag that names it, `--dataset` or `--data`.
        """
        try:
            return load_arrays(self.data)
        except DataError as error:
            flag = "--dataset" if self.data in DATASETS else "--data"
            message = str(error)
            if not message.startswith("--"):
                message = f"{flag} {message}"
            raise DataError(message) from None


def check_profile_batches(batches):
    """Checks `--profile-batches`: None, or `(start, stop)` with 1 <= start <= stop.

    The same rule as `BatchProfiler`'s, checked here so that a bad pair is a
    usage error before TensorFlow loads.

    Raises:
        ConfigError: any other value.
    """
    if batches is None:
        return
    pair = tuple(batches) if isinstance(batches, (tuple, list)) else ()
    if not (len(pair) == 2
            and all(isinstance(b, int) and not isinstance(b, bool) for b in pair)
            and 1 <= pair[0] <= pair[1]):
        raise ConfigError(
            "--profile-batches must be START,STOP batches with 1 <= START <= STOP, "
            f"received: {batches!r}"
        )


def write_config(config, run_dir):
    """Stores the run's configuration so `--resume` trains the same run.

    A run directory that is a URL (`gs://`, `ram://`) gets the file through
    `tf.io.gfile`, as one whole-object write.
    """
    path = os.path.join(run_dir, CONFIG_FILE)
    stored = dataclasses.asdict(config)
    # Tracing is asked for per invocation (`--profile-batches`); a resumed
    # run traces only when asked again.
    # The strategy too: a run may be resumed on other machines.
    for per_invocation in ("resume", "profile_batches", "strategy"):
        stored.pop(per_invocation)
    text = json.dumps(stored, indent=2, sort_keys=True)
    if _remote.is_url(path):
        _remote.write_object(path, text)
        return
    with open(path, "w") as handle:
        handle.write(text)


def read_config(logdir, api, run_name):
    """The stored configuration of run `<logdir>/<api>/<run_name>`, to resume it.

    A resumed run keeps everything it started with (data, seed, epochs,
    learning rate): only then does it end where an uninterrupted run would.
    """
    run_dir = runs.existing_run_dir(logdir, api, run_name)
    path = os.path.join(run_dir, CONFIG_FILE)
    try:
        stored = json.loads(_remote.read_bytes(path))
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        stored = {k: v for k, v in stored.items() if k in fields}
        stored.update(logdir=logdir, run_name=run_name, resume=True)
        return TrainConfig(**stored)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(
            f"--resume: {path} is missing or unreadable ({error}); only runs "
            "started by ktb train can be resumed"
        ) from None
