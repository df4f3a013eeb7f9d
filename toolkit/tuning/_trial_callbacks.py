"""What each trial of a search writes: the light set (default) or the full set.

A search runs tens of trials, and most of what `training.build_callbacks`
writes (graph, model summary, projector with sprites, confusion matrix, a
checkpoint per epoch) is only worth looking at for the winner, which
`toolkit.tuning` inspects with the full set once the search ends (see
`_inspect`). Each trial writes what it takes to compare and debug it:

- `ScalarLogger`: the epoch metrics and the learning rate;
- `HistogramLogger` without activations: weight and gradient histograms,
  `gradient_norm` and `update_ratio/<layer>` per epoch;
- `HistoryPlotter` with PNG only and no image per epoch (the scalars
  are the curves in TensorBoard), drawn on its worker thread while the next
  trial starts; the tuner waits for it one trial later and when the search
  ends.

The HParams session is written by the tuner. No checkpoint of the
toolkit's: keras-tuner already keeps each trial's best epoch
(`trial_<id>/checkpoint.weights.h5`), and the inspection of the winner
loads it from there.
"""

from ...callbacks import HistogramLogger, HistoryPlotter, ScalarLogger
from .. import training
from ..errors import ConfigError

TRIAL_CALLBACKS = ("light", "full")


def light_callbacks(run_dir, pipelines):
    """The light set of one trial execution, writing into `run_dir`.

    Args:
        run_dir: the execution's run directory.
        pipelines: the search's `toolkit.data.DataPipelines` (unused: the
            light set needs no validation sample; the argument keeps the
            factory signature of `training.build_callbacks`).

    Returns:
        A new list of callbacks, for one trial execution.
    """
    del pipelines
    return [
        ScalarLogger(run_dir),
        HistogramLogger(run_dir, activations=False),
        HistoryPlotter(run_dir, freq=0, formats=("png",), wait_for_files=False),
    ]


def full_callbacks(run_dir, pipelines):
    """Every toolkit callback per trial, as `ktb train` attaches them."""
    return training.build_callbacks(run_dir, pipelines)


def trial_callback_factory(kind):
    """The callback factory of `--trial-callbacks kind`.

    Raises:
        ConfigError: `kind` is not one of `TRIAL_CALLBACKS`.
    """
    factories = {"light": light_callbacks, "full": full_callbacks}
    if kind not in factories:
        raise ConfigError(
            f"--trial-callbacks must be one of {', '.join(TRIAL_CALLBACKS)}, "
            f"received: {kind!r}"
        )
    return factories[kind]
