"""`ktb demo`: every dashboard filled from the embedded MNIST subset in minutes.

One demo is one directory, `<logdir>/demo-<start time>/`, so a second demo
never touches the first:

```
demo-<time>/
  sequential/run/   functional/run/   subclassed/run/   (ktb train, every callback)
  search/           (ktb tune over the all-styles space: HParams, trials)
```
"""

import dataclasses
import time

from . import runs
from .config import API_STYLES, TrainConfig
from .data import DEFAULT_DATASET

SEARCH_DIR = "search"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    logdir: str = "logs"
    epochs: int = 3
    trials: int = 4
    search_epochs: int = 2
    limit: int | None = None
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class DemoResult:
    demo_dir: str
    accuracies: dict
    search_dir: str
    seconds: float


def run_demo(config, *, progress=print):
    """Trains the three API styles, then searches; returns a `DemoResult`.

    `progress` receives one short line per stage.
    """
    arrays = TrainConfig(logdir=config.logdir, data=DEFAULT_DATASET).validate().load_arrays()
    demo_dir = runs.create_run_dir(config.logdir, "", prefix="demo")
    from . import training, tuning

    start = time.perf_counter()
    stages = len(API_STYLES) + 1
    accuracies = {}
    for number, api in enumerate(API_STYLES, start=1):
        progress(f"[{number}/{stages}] training {api} for {config.epochs} epochs ...")
        result = training.train(
            TrainConfig(
                api=api, epochs=config.epochs, logdir=demo_dir, run_name="run",
                seed=config.seed, limit=config.limit,
            ),
            arrays=arrays,
            verbose=0,
        )
        accuracies[api] = result.test_accuracy
        progress(f"      {api}: test accuracy {result.test_accuracy:.4f} "
                 f"({_elapsed(start)})")
    progress(f"[{stages}/{stages}] searching the all-styles space, "
             f"{config.trials} trials of {config.search_epochs} epochs ...")
    search = tuning.run_search(
        arrays, space="all", tuner="random", max_trials=config.trials,
        epochs=config.search_epochs, logdir=demo_dir, name=SEARCH_DIR,
        seed=config.seed, limit=config.limit, verbose=0,
    )
    best = search.leaderboard[0] if search.leaderboard else None
    if best is not None:
        progress(f"      best trial {best.trial_id}: val_accuracy "
                 f"{best.score:.4f} ({_elapsed(start)})")
    return DemoResult(
        demo_dir=demo_dir,
        accuracies=accuracies,
        search_dir=search.search_dir,
        seconds=time.perf_counter() - start,
    )


def _elapsed(start):
    return f"{time.perf_counter() - start:.0f} s"
