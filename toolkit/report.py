"""`ktb report`: one figure and a text summary from a log directory.

The figure, drawn with `matplotlib.figure.Figure` (no pyplot, no window),
has the curves of the chosen metric for every run, one axes per subset
(train, validation) side by side, the legend beside them; the final values
of every run compared in a bar chart, best first; and, for a search, the
trials ranked with the hyperparameters that vary between them in a table.
Run names are shown less the folders all runs share. What is left out (runs
beyond the caps, failed trials, runs without the metric) is counted, and
runs whose events file was cut short are named, in the figure and in the
summary.

Example:

    from keras_tb_toolkit.toolkit import report

    data = report.read_logdir("logs")
    metric = report.choose_metric(data)          # accuracy, else loss
    path, summary = report.write_report("logs", out="logs/report.svg")
    print(summary)
"""

import math
import os
import textwrap

from ._report_data import (
    LogData,
    Ranking,
    RunData,
    check_logdir,
    choose_metric,
    lower_is_better,
    metric_name,
    rank,
    rank_runs,
    read_logdir,
    short_names,
    varied_hparams,
)
from ._report_table import draw_table, plan_table, text_table
from .errors import ConfigError

__all__ = [
    "FORMATS",
    "LogData",
    "Ranking",
    "RunData",
    "ReportWriteError",
    "choose_metric",
    "rank",
    "rank_runs",
    "read_logdir",
    "report_figure",
    "summary_text",
    "write_report",
]

FORMATS = (".png", ".svg")
DPI = 100
WIDTH = 12.0  # inches
# Heights in inches: curves row; per bar-chart run and per table line, plus
# the room their titles and axes take; per line of notes under the figure.
_CURVES_HEIGHT = 4.0
_BAR_HEIGHT = 0.28
_ROW_HEIGHT = 0.26
_FRAME_HEIGHT = 1.2
_NOTE_HEIGHT = 0.2
_NOTE_CHARS = 180  # at the "small" font size, about the figure's width
# Beyond these the figure and the summary would be unreadable: only the
# best are shown, and how many were left out is said.
MAX_BARS = 30
MAX_LEGEND_RUNS = 10
MAX_SUMMARY_RUNS = 20
MAX_NAMED = 5  # runs named in a note, e.g. the failed trials
_SUBSET_LABELS = {"": "run directory"}
_OTHERS_COLOR = "0.75"
_INCOMPLETE_MARK = " *"


class ReportWriteError(OSError):
    """The figure could not be written (a read-only directory, a full disk).

    Not a `ToolkitError`: the arguments were right, the system refused, so
    the CLI exits with status 1, not 2.
    """


def figure_size(data, metric, all_hparams=False):
    """`(width, height)` in inches of the report figure of `data`."""
    return WIDTH, sum(_layout(data, metric, all_hparams)[0])


def _layout(data, metric, all_hparams):
    """`(row heights, ranking, table plan or None, notes)` of the figure."""
    ranking = rank(data, metric)
    heights = [
        _CURVES_HEIGHT,
        _FRAME_HEIGHT + _BAR_HEIGHT * max(min(len(ranking.ranked), MAX_BARS), 1),
    ]
    plan = None
    if any(run.hparams for run, _, _ in ranking.ranked):
        plan = plan_table(ranking, data.hparam_names, all_hparams, _subset_label,
                          width=WIDTH * DPI, dpi=DPI, mark=_INCOMPLETE_MARK)
        heights.append(_FRAME_HEIGHT + _ROW_HEIGHT * plan.lines)
    notes = _notes(ranking, _names(data), figure=True)
    heights[-1] += _NOTE_HEIGHT * len(notes)
    return heights, ranking, plan, notes


def report_figure(data, metric, all_hparams=False):
    """Draws the report of `metric` over the runs of `data`.

    Args:
        data: A `LogData` from `read_logdir`.
        metric: A name from `data.metrics()`.
        all_hparams: Whether the trials table shows every hyperparameter,
            not only those that vary between the trials. Defaults to
            `False`.

    Returns:
        A `matplotlib.figure.Figure` of `figure_size(data, metric)` inches.
    """
    from matplotlib.figure import Figure

    heights, ranking, plan, notes = _layout(data, metric, all_hparams)
    figure = Figure(figsize=(WIDTH, sum(heights)), dpi=DPI, layout="constrained")
    subsets = [
        subset for subset in data.subsets()
        if any(run.metric_series(metric, subset) for run, _, _ in ranking.ranked)
    ]
    rows = figure.subfigures(len(heights), 1, height_ratios=heights)
    names = _names(data)
    _draw_curves(rows[0], ranking, names, metric, subsets)
    _draw_bars(rows[1].subplots(), ranking, names, metric, subsets)
    if plan is not None:
        draw_table(rows[2].subplots(), plan)
    prefix = short_names([run.name for run in data.runs])[0]
    figure.suptitle(f"{metric} — {os.path.join(data.logdir, prefix)}")
    if notes:
        figure.supxlabel("\n".join(notes), fontsize="small", ha="left", x=0.01,
                         multialignment="left")
    return figure


def _names(data):
    """`{run name: label}`: the name less the shared folders, marked if cut."""
    names = short_names([run.name for run in data.runs])[1]
    return {
        run.name: names[run.name] + (_INCOMPLETE_MARK if run.incomplete else "")
        for run in data.runs
    }


def _subset_label(subset):
    return _SUBSET_LABELS.get(subset, subset)


def _draw_curves(subfigure, ranking, names, metric, subsets):
    """One axes per subset; the best runs in color, the others in grey."""
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    axes = subfigure.subplots(1, max(len(subsets), 1), sharey=True, squeeze=False)[0]
    runs = [run for run, _, _ in ranking.ranked]
    colored, others = runs[:MAX_LEGEND_RUNS], runs[MAX_LEGEND_RUNS:]
    palette = colormaps["tab10"]
    for ax, subset in zip(axes, subsets):
        # Grey first, so that the best runs are drawn over the others.
        for i, run in enumerate(others):
            _plot(ax, run.metric_series(metric, subset), color=_OTHERS_COLOR, linewidth=0.8,
                  label=f"{len(others)} others" if i == 0 else None, zorder=1)
        for i, run in enumerate(colored):
            _plot(ax, run.metric_series(metric, subset), color=palette(i % 10),
                  label=names[run.name], zorder=2)
        ax.set_title(f"{_subset_label(subset)} {metric}")
        ax.set_xlabel("epoch")
        low, high = ax.get_xlim()
        if high - low < 2:  # runs of one epoch: whole epochs on the axis
            middle = round((low + high) / 2)
            ax.set_xlim(middle - 1, middle + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    if runs:
        # Beside the axes, never over the curves; best first, as ranked.
        handles, labels = axes[-1].get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: labels[i] == f"{len(others)} others")
        title = f"best {len(colored)} of {len(runs)}" if others else "best first"
        axes[-1].legend([handles[i] for i in order], [labels[i] for i in order],
                        loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                        fontsize="small", title=title, title_fontsize="small")


def _plot(ax, series, **style):
    """Draws `series`; a single point as a marker, since a line of one
    point has no length and would not show."""
    if not series:
        return
    steps, values = zip(*series)
    if len(steps) == 1:
        style.update(marker="o", linestyle="none")
    elif len(steps) < 30:
        style.update(marker=".")
    ax.plot(steps, values, **style)


def _draw_bars(ax, ranking, names, metric, subsets):
    import numpy as np

    shown = ranking.ranked[:MAX_BARS]
    positions = np.arange(len(shown))
    height = 0.8 / max(len(subsets), 1)
    for i, subset in enumerate(subsets):
        values = [_final_value(run, metric, subset) for run, _, _ in shown]
        bars = ax.barh(positions + i * height, values, height=height, label=_subset_label(subset))
        ax.bar_label(bars, fmt="%.4g", fontsize="x-small", padding=2)
    ax.set_yticks(positions + height * (len(subsets) - 1) / 2,
                  [names[run.name] for run, _, _ in shown], fontsize="small")
    ax.invert_yaxis()
    best = "lowest" if lower_is_better(metric) else "highest"
    total = len(ranking.ranked)
    more = f", best {len(shown)} of {total} runs" if len(shown) < total else ""
    ax.set_title(f"final {metric} ({best} first{more})")
    ax.grid(axis="x", alpha=0.3)
    if subsets:  # above the axes: bars fill the whole width
        ax.legend(fontsize="small", loc="lower right", bbox_to_anchor=(1.0, 1.0),
                  ncols=len(subsets), frameon=False)


def _final_value(run, metric, subset):
    final = run.final(metric, subset)
    return final[1] if final else math.nan


def _format(value):
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


def _notes(ranking, names, figure):
    """Lines on what was left out of the ranking and what was read partly.

    The figure's lines are wrapped to its width and leave out the details
    (failure reasons, file sizes) that the text summary gives.
    """
    notes = []
    left_out = []
    if ranking.failed:
        left_out.append(f"{len(ranking.failed)} failed: " + _named(
            ranking.failed, names, None if figure else lambda run: run.failure))
    if ranking.no_data:
        left_out.append(f"{len(ranking.no_data)} with no {ranking.metric} logged: "
                        + _named(ranking.no_data, names))
    if left_out:
        total = len(ranking.ranked) + len(ranking.failed) + len(ranking.no_data)
        notes.append(f"{len(ranking.ranked)} of {total} runs ranked; left out: "
                     + "; ".join(left_out))
    if ranking.incomplete:
        plain = {name: label.removesuffix(_INCOMPLETE_MARK) for name, label in names.items()}
        where = "" if figure else " (" + "; ".join(
            f"{path}: {read} of {size} bytes"
            for run in ranking.incomplete for path, read, size in run.incomplete
        ) + ")"
        notes.append(f"{_INCOMPLETE_MARK.strip()} read incompletely, an events file ends in a "
                     f"cut record, so the last values may be missing: "
                     f"{_named(ranking.incomplete, plain)}{where}")
    if figure:
        return [line for note in notes for line in textwrap.wrap(note, _NOTE_CHARS)]
    return notes


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
        Lines of text, without a final newline.
    """
    ranking = rank(data, metric)
    names = _names(data)
    prefix = short_names([run.name for run in data.runs])[0]
    direction = "lower" if lower_is_better(metric) else "higher"
    lines = [
        f"{len(data.runs)} runs under {os.path.join(data.logdir, prefix)}, "
        f"ranked on the final {metric} ({direction} is better; validation, else train)"
    ]
    shown = ranking.ranked[:MAX_SUMMARY_RUNS]
    if shown:
        run, subset, final = shown[0]
        lines.append(f"best run: {names[run.name]} ({_subset_label(subset)} {metric} "
                     f"{_format(final[1])} at step {final[0]})")
        lines.extend(_ranking_table(data, ranking, names, shown, all_hparams))
    lines.extend(_notes(ranking, names, figure=False))
    trials = [run for run, _, _ in ranking.ranked if run.hparams]
    same = [name for name in data.hparam_names
            if name not in varied_hparams(trials, data.hparam_names)]
    if trials and same and not all_hparams:
        lines.append(f"{len(same)} hyperparameters are the same in every trial "
                     "(--all-hparams shows them)")
    if all_metrics:
        lines.extend(_all_metrics(shown, names, data.subsets()))
    elif any(metric_name(tag) != metric for run, _, _ in shown
             for tags in run.scalars.values() for tag in tags):
        lines.append("other scalars: --all-metrics lists their final values")
    return "\n".join(lines)


def _ranking_table(data, ranking, names, shown, all_hparams):
    subsets = [subset for subset in ("train", "validation") if subset in data.subsets()]
    trials = [run for run, _, _ in ranking.ranked if run.hparams]
    hparams = (list(data.hparam_names) if all_hparams
               else varied_hparams(trials, data.hparam_names))
    metric = ranking.metric
    header = ["rank", "run", *(f"{subset} {metric}" for subset in subsets),
              "best step", *hparams]
    rows = []
    for number, (run, subset, _) in enumerate(shown, start=1):
        best = run.best(metric, subset)
        rows.append([
            str(number), names[run.name],
            *(_format(_final_value(run, metric, s)) for s in subsets),
            str(best[0]),
            *(_format(run.hparams[name]) if name in run.hparams else "-" for name in hparams),
        ])
    left = {1, *range(len(header) - len(hparams), len(header))}
    table = text_table(header, rows, left=left)
    if len(shown) < len(ranking.ranked):
        table.append(f"... and {len(ranking.ranked) - len(shown)} more ranked runs, not shown "
                     f"(the best {len(shown)} are)")
    best_subsets = sorted({subset for _, subset, _ in shown})
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
                f"{metric_name(tag)}={_format(series[-1][1])}"
                for tag, series in sorted(tags.items()) if series
            )
            if values:
                lines.append(f"    {subset or 'run'}: {values}")
    return lines


def check_out(out):
    """Fails unless `out` is a .png/.svg path in an existing directory."""
    path = os.fspath(out)
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise ConfigError(
            f"--out: {path!r} must end in {' or '.join(FORMATS)}"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"--out: directory {directory} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"--out: {path} is a directory")
    return path


def check_writable(out):
    """Fails with `ReportWriteError` unless a file can be made beside `out`.

    Tried before the log directory is read, which can take minutes: a file
    is created and removed, as `os.access` says yes to root on a read-only
    directory.
    """
    from ..callbacks import _atomic_io

    directory, name = os.path.split(os.path.abspath(out))
    try:
        _atomic_io.remove_quietly(_atomic_io.reserve_temp(directory, name))
    except OSError as error:
        raise _write_error(out, error) from None


def _write_error(out, error):
    return ReportWriteError(
        f"cannot write {out}: {error.strerror or error}; pass --out with a file "
        "in a writable directory"
    )


def write_report(logdir, out=None, metric=None, *, all_hparams=False, all_metrics=False,
                 progress=None):
    """Reads `logdir`, draws its report to `out` and returns `(out, summary)`.

    Args:
        logdir: A log root, experiment, search or run directory.
        out: A .png or .svg path. Defaults to `<logdir>/report.png`.
        metric: The metric drawn and ranked. Defaults to accuracy when
            logged, else loss.
        all_hparams: Show every hyperparameter, not only those that vary.
            Defaults to `False`.
        all_metrics: List the final value of every scalar in the summary.
            Defaults to `False`.
        progress: `progress(done, total)` while the runs are read, see
            `read_logdir`. Defaults to `None`.

    Raises:
        ConfigError: bad `out` or unknown `metric`.
        LogDirError, ReportError: see `read_logdir`.
        ReportWriteError: `out` cannot be written.
    """
    from ..callbacks._figures import save_figure

    check_logdir(logdir)
    out = check_out(os.path.join(logdir, "report.png") if out is None else out)
    check_writable(out)
    data = read_logdir(logdir, progress=progress)
    metric = choose_metric(data, metric)
    figure = report_figure(data, metric, all_hparams)
    try:
        save_figure(figure, out)
    except OSError as error:
        raise _write_error(out, error) from error
    return out, summary_text(data, metric, all_hparams, all_metrics)

