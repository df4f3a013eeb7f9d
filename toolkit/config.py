"""Run configurations, checked without TensorFlow.

`ktb` checks every argument, the log directory and the data file before
TensorFlow loads, so a usage error answers at once and writes nothing.
"""

import dataclasses
import math

from toolkit import runs
from toolkit.data import DATASETS, DEFAULT_DATASET, load_arrays
from toolkit.errors import ConfigError, DataError

API_STYLES = ("sequential", "functional", "subclassed")
LR_SCHEDULES = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything `train()` needs; `check()` rejects values outside their range."""

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

    def check(self):
        """Checks every field, then loads and returns the data's `Arrays`."""
        if self.api not in API_STYLES:
            raise ConfigError(
                f"--api must be one of {', '.join(API_STYLES)}, "
                f"received: {self.api!r}"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a positive integer, "
                    f"received: {value!r}"
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
        runs.check_run_name(self.run_name)
        runs.check_writable(self.logdir)
        try:
            return load_arrays(self.data)
        except DataError as error:
            flag = "--dataset" if self.data in DATASETS else "--data"
            message = str(error)
            if not message.startswith("--"):
                message = f"{flag} {message}"
            raise DataError(message) from None
