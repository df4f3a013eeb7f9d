"""The text summary of `ktb report`, and the notes the figure shares.

The summary is an aligned table: the runs best first, with the chosen
metric for train and validation, the step of the best value and the
hyperparameters that vary. It shows the best `MAX_SUMMARY_RUNS`; what is
left out, and why (ranked lower, a failed trial, no data), is said below.
"""

import math
import os
import textwrap

from ._report_data import lower_is_better, metric_name
from ._report_ranking import rank, short_names, varied_hparams

MAX_SUMMARY_RUNS = 20
MAX_NAMED = 5  # runs named in a note, e.g. the failed trials
INCOMPLETE_MARK = " *"
_NOTE_CHARS = 180  # at the figure's "small" font size, about its width
_SUBSET_LABELS = {"": "run directory"}


def run_labels(data):
    """`{run name: label}`: the name less the shared folders, marked if cut."""
    names = short_names([run.name for run in data.runs])[1]
    return {
        run.name: names[run.name] + (INCOMPLETE_MARK if run.incomplete else "")
        for run in data.runs
    }


def subset_label(subset):
    return _SUBSET_LABELS.get(subset, subset)


def final_value(run, metric, subset):
    final = run.final(metric, subset)
    return final[1] if final else math.nan


def format_value(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _named(runs, names, describe=None):
    """"a, b, c and 4 more": at most `MAX_NAMED` runs, by name."""
    shown = [
        names[run.name] + (f" ({describe(run)})" if describe else "")
        for run in runs[:MAX_NAMED]
    ]
    more = f" and {len(runs) - MAX_NAMED} more" if len(runs) > MAX_NAMED else ""
    return ", ".join(shown) + more


def notes(ranking, names, figure):
    """Lines on what was left out of the ranking and what was read partly.

    The figure's lines are wrapped to its width and leave out the details
    (failure reasons, file sizes) that the text summary gives.
    """
    lines = []
    left_out = []
    if ranking.failed:
        left_out.append(f"{len(ranking.failed)} failed: " + _named(
            ranking.failed, names, None if figure else lambda run: run.failure))
    if ranking.no_data:
        left_out.append(f"{len(ranking.no_data)} with no {ranking.metric} logged: "
                        + _named(ranking.no_data, names))
    if left_out:
        total = len(ranking.ranked) + len(ranking.failed) + len(ranking.no_data)
        lines.append(f"{len(ranking.ranked)} of {total} runs ranked; left out: "
                     + "; ".join(left_out))
    if ranking.incomplete:
        plain = {name: label.removesuffix(INCOMPLETE_MARK) for name, label in names.items()}
        where = "" if figure else " (" + "; ".join(
            f"{path}: {read} of {size} bytes"
            for run in ranking.incomplete for path, read, size in run.incomplete
        ) + ")"
        lines.append(f"{INCOMPLETE_MARK.strip()} read incompletely, an events file ends in a "
                     f"cut record, so the last values may be missing: "
                     f"{_named(ranking.incomplete, plain)}{where}")
    if figure:
        return [line for note in lines for line in textwrap.wrap(note, _NOTE_CHARS)]
    return lines


def summary_text(data, metric, all_hparams=False, all_metrics=False):
    """The ranking as an aligned table, and what was left out of it.

    Args:
        data: A `LogData` from `read_logdir`.
        metric: A name from `data.metrics()`.
        all_hparams: Whether to show every hyperparameter, not only those
            that vary between the trials. Defaults to `False`.
        all_metrics: Whether to list the final value of every scalar of
            every run shown. Defaults to `False`.

    Returns:
        The summary: lines joined by newlines, without a final one.
    """
    ranking = rank(data, metric)
    names = run_labels(data)
    prefix = short_names([run.name for run in data.runs])[0]
    direction = "lower" if lower_is_better(metric) else "higher"
    lines = [
        f"{len(data.runs)} runs under {os.path.join(data.logdir, prefix)}, "
        f"ranked on the final {metric} ({direction} is better; validation, else train)"
    ]
    shown = ranking.ranked[:MAX_SUMMARY_RUNS]
    if shown:
        run, subset, final = shown[0]
        lines.append(f"best run: {names[run.name]} ({subset_label(subset)} {metric} "
                     f"{format_value(final[1])} at step {final[0]})")
        lines.extend(_ranking_table(data, ranking, names, shown, all_hparams))
    lines.extend(notes(ranking, names, figure=False))
    trials = [run for run, _, _ in ranking.ranked if run.hparams]
    same = len(data.hparam_names) - len(varied_hparams(trials, data.hparam_names))
    if trials and same and not all_hparams:
        lines.append(f"{same} hyperparameter{'s are' if same > 1 else ' is'} the same in "
                     "every trial (--all-hparams shows them)")
    if all_metrics:
        lines.extend(_all_metrics(shown, names, data.subsets()))
    elif any(metric_name(tag) != metric for run, _, _ in shown
             for tags in run.scalars.values() for tag in tags):
        lines.append("other scalars: --all-metrics lists their final values")
    return "\n".join(lines)


def _ranking_table(data, ranking, names, shown, all_hparams):
    subsets = [subset for subset in data.subsets()
               if any(run.metric_series(ranking.metric, subset) for run, _, _ in shown)]
    trials = [run for run, _, _ in ranking.ranked if run.hparams]
    hparams = (list(data.hparam_names) if all_hparams
               else varied_hparams(trials, data.hparam_names))
    metric = ranking.metric
    header = ["rank", "run", *(f"{subset_label(subset)} {metric}" for subset in subsets),
              "best step", *hparams]
    rows = []
    for number, (run, subset, _) in enumerate(shown, start=1):
        best = run.best(metric, subset)
        rows.append([
            str(number), names[run.name],
            *(format_value(final_value(run, metric, s)) for s in subsets),
            str(best[0]),
            *(format_value(run.hparams[name]) if name in run.hparams else "-" for name in hparams),
        ])
    left = {1, *range(len(header) - len(hparams), len(header))}
    table = text_table(header, rows, left=left)
    if len(shown) < len(ranking.ranked):
        table.append(f"... and {len(ranking.ranked) - len(shown)} more ranked runs, not shown "
                     f"(the best {len(shown)} are)")
    best_subsets = sorted({subset_label(subset) for _, subset, _ in shown})
    table.append(f"best step: the step of the best {'/'.join(best_subsets)} {metric} "
                 "of the run (runs are ranked on their final value)")
    return table


def _all_metrics(shown, names, subsets):
    lines = ["final value of every scalar:"]
    for run, _, _ in shown:
        lines.append(f"  {names[run.name]}")
        for subset in subsets:
            tags = run.scalars.get(subset, {})
            values = " ".join(
                f"{metric_name(tag)}={format_value(series[-1][1])}"
                for tag, series in sorted(tags.items()) if series
            )
            if values:
                lines.append(f"    {subset or 'run'}: {values}")
    return lines


def text_table(header, rows, left=()):
    """Lines of `header` and `rows` in columns two spaces apart.

    Args:
        header: Column titles.
        rows: Rows of strings, as many as `header`.
        left: Indexes of the columns aligned left; the others (numbers)
            are aligned right. Defaults to `()`.
    """
    widths = [max(len(text) for text in column) for column in zip(header, *rows)]

    def line(texts):
        return "  ".join(
            text.ljust(width) if i in left else text.rjust(width)
            for i, (text, width) in enumerate(zip(texts, widths))
        ).rstrip()

    return [line(header), *(line(row) for row in rows)]
