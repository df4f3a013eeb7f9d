"""The order of the runs in `ktb report`, and how they are named.

Runs are ranked on the final value of the metric, validation when logged;
failed trials and runs without the metric are set apart and counted, never
dropped silently.
"""

import dataclasses
import math

from ._report_data import lower_is_better


def ranking_subset(run, metric):
    """The subset a run is ranked on: validation when logged, else train..."""
    for subset in ("validation", "train", *sorted(run.scalars)):
        if run.final(metric, subset) is not None:
            return subset
    return None


def rank_runs(runs, metric):
    """`[(run, subset, (step, value))]` best first; runs without `metric` last.

    NaN values rank after every number; ties keep the name order. Failed
    trials are ranked as any other run: `rank` sets them apart.
    """
    sign = 1.0 if lower_is_better(metric) else -1.0
    ranked, missing = [], []
    for run in runs:
        subset = ranking_subset(run, metric)
        if subset is None:
            missing.append((run, None, None))
        else:
            ranked.append((run, subset, run.final(metric, subset)))

    def order(item):
        value = item[2][1]
        return (math.isnan(value), 0.0 if math.isnan(value) else sign * value)

    ranked.sort(key=order)
    return ranked + missing


@dataclasses.dataclass(frozen=True)
class Ranking:
    """The runs of a log directory sorted for one metric.

    Attributes:
        metric: The metric ranked on.
        ranked: `((run, subset, (step, value)), ...)` best first, from
            `rank_runs`: the runs that logged `metric` and did not fail.
        failed: The trials whose hparams session ended in failure.
        no_data: The other runs: they logged no `metric` (still running,
            or killed before their first epoch ended).
    """

    metric: str
    ranked: tuple
    failed: tuple
    no_data: tuple

    @property
    def incomplete(self):
        """The ranked runs read only up to a truncated record."""
        return tuple(run for run, _, _ in self.ranked if run.incomplete)


def rank(data, metric):
    """Sorts the runs of `data` into a `Ranking` on `metric`."""
    ranked, no_data = [], []
    for item in rank_runs([run for run in data.runs if not run.failed], metric):
        (ranked if item[1] is not None else no_data).append(item)
    return Ranking(
        metric=metric,
        ranked=tuple(ranked),
        failed=tuple(run for run in data.runs if run.failed),
        no_data=tuple(run for run, _, _ in no_data),
    )


def short_names(names):
    """`(prefix, {name: short name})`: names less their shared leading folders.

    Folders shared by every name say nothing about any one run (a demo's
    `demo-20261129-063340/`, a search's directory); at least the last
    component of each name is kept.
    """
    parts = [name.split("/") for name in names]
    shared = 0
    if parts:
        most = min(len(split) for split in parts) - 1
        while shared < most and len({split[shared] for split in parts}) == 1:
            shared += 1
    prefix = "/".join(parts[0][:shared]) if parts else ""
    return prefix, {name: "/".join(split[shared:]) for name, split in zip(names, parts)}


def varied_hparams(runs, names):
    """The `names` whose value is not the same in every one of `runs`.

    A name some runs lack (a conditional hyperparameter) varies. Names set
    in more runs come first, then in the order of `names`.
    """
    varied = [
        name for name in names
        if len({(name in run.hparams, repr(run.hparams.get(name))) for run in runs}) > 1
    ]
    present = {name: sum(name in run.hparams for run in runs) for name in varied}
    return sorted(varied, key=lambda name: -present[name])
