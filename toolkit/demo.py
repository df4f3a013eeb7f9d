"""`ktb demo`: every dashboard filled from the embedded MNIST subset in minutes.

One demo is one directory, `<logdir>/demo-<start time>/`, so a second demo
never touches the first:

```
demo-<time>/
  sequential/run/   functional/run/   subclassed/run/   (ktb train, every callback)
  search/           (ktb tune over the all-styles space: HParams, trials)
```

Each style's run fills Scalars (with the custom-scalars layout), Images
(history, confusion matrix, mistakes, Grad-CAM), PR Curves, Histograms,
Distributions, Graphs, Text and the Projector; with the `[profile]` extra
installed, the runs also trace batches `PROFILE_BATCHES` for the Profile
dashboard. The search fills HParams.

Progress: each stage (a style, the search) reports every epoch it finishes
with an estimate of the time left for the whole demo (`_demo_progress`).
"""

import dataclasses

from . import runs
from .config import API_STYLES, TrainConfig
from .data import DEFAULT_DATASET

SEARCH_DIR = "search"
# Batches traced for the Profile dashboard: after the first, which traces
# and compiles the training function, so the trace shows steady steps.
PROFILE_BATCHES = (2, 4)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The size of a demo.

    Args:
        logdir: the log root the demo directory is made in. Defaults to
            `"logs"`.
        epochs: epochs per API style. Defaults to `3`.
        trials: trials of the search. Defaults to `4`.
        search_epochs: epochs per trial. Defaults to `2`.
        limit: keep only the first `limit` images. Defaults to `None`.
        seed: seeds the data order, the models and the search. Defaults to
            `0`.
    """

    logdir: str = "logs"
    epochs: int = 3
    trials: int = 4
    search_epochs: int = 2
    limit: int | None = None
    seed: int = 0

    @property
    def total_epochs(self):
        """Epochs the whole demo trains: every style's, then every trial's."""
        return len(API_STYLES) * self.epochs + self.trials * self.search_epochs


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """A finished demo: its directory, each style's test accuracy, its search."""

    demo_dir: str
    accuracies: dict
    search_dir: str
    seconds: float
    profiled: bool = False


def run_demo(config, *, progress=None):
    """Trains the three API styles, then searches; returns a `DemoResult`.

    Args:
        config: the `DemoConfig`.
        progress: the `_demo_progress.Progress` to report to. Defaults to
            `None`: one on standard output.

    Returns:
        A `DemoResult`.

    Raises:
        LogDirError: `config.logdir` cannot be created or written; checked
            before TensorFlow loads.
    """
    arrays = TrainConfig(logdir=config.logdir, data=DEFAULT_DATASET).validate().load_arrays()
    from ..callbacks import profile_plugin_installed
    from . import training, tuning
    from ._demo_progress import EpochCounter, Progress

    if progress is None:
        progress = Progress(config.total_epochs)
    demo_dir = runs.create_run_dir(config.logdir, "", prefix="demo")

    profiled = profile_plugin_installed()
    stages = len(API_STYLES) + 1
    accuracies = {}
    for number, api in enumerate(API_STYLES, start=1):
        label = f"[{number}/{stages}]"
        progress.stage(f"{label} training {api} for {config.epochs} epochs ...")
        result = training.train(
            TrainConfig(
                api=api, epochs=config.epochs, logdir=demo_dir, run_name="run",
                seed=config.seed, limit=config.limit,
                profile_batches=PROFILE_BATCHES if profiled else None,
            ),
            arrays=arrays,
            extra_callbacks=[EpochCounter(progress, f"{label} {api}", config.epochs)],
            verbose=0,
        )
        accuracies[api] = result.test_accuracy
        progress.line(f"      {api}: test accuracy {result.test_accuracy:.4f} "
                      f"({progress.elapsed():.0f} s)")
    label = f"[{stages}/{stages}]"
    progress.stage(f"{label} searching the all-styles space, "
                   f"{config.trials} trials of {config.search_epochs} epochs ...")
    search = tuning.run_search(
        arrays, space="all", tuner="random", max_trials=config.trials,
        epochs=config.search_epochs, logdir=demo_dir, name=SEARCH_DIR,
        seed=config.seed, limit=config.limit, verbose=0,
        callbacks=[EpochCounter(progress, f"{label} search", config.search_epochs,
                                fits=config.trials)],
    )
    best = search.leaderboard[0] if search.leaderboard else None
    if best is not None:
        progress.line(f"      best trial {best.trial_id}: val_accuracy "
                      f"{best.score:.4f} ({progress.elapsed():.0f} s)")
    return DemoResult(
        demo_dir=demo_dir,
        accuracies=accuracies,
        search_dir=search.search_dir,
        seconds=progress.elapsed(),
        profiled=profiled,
    )
