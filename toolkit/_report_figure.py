"""The figure of `ktb report`, drawn with `matplotlib.figure.Figure`.

No pyplot, no window: the curves of the chosen metric, one axes per subset
with the legend beside them (over the axes it hid the validation curves);
the final values in a bar chart, best first; for a search, the trials
table (`_report_table`). The best `MAX_LEGEND_RUNS` runs are in color, the
others grey, so that 200 runs stay readable.
"""

import os

from ._report_data import lower_is_better
from ._report_ranking import rank, short_names
from ._report_table import draw_table, plan_table
from ._report_text import INCOMPLETE_MARK, final_value, notes, run_labels, subset_label

DPI = 100
WIDTH = 12.0  # inches
# Heights in inches: curves row; per bar-chart run and per table line, plus
# the room their titles and axes take; per line of notes under the figure.
_CURVES_HEIGHT = 4.0
_BAR_HEIGHT = 0.28
_ROW_HEIGHT = 0.26
_FRAME_HEIGHT = 1.2
_NOTE_HEIGHT = 0.2
# Beyond these the figure would be unreadable: only the best are shown,
# and how many were left out is said.
MAX_BARS = 30
MAX_LEGEND_RUNS = 10
_OTHERS_COLOR = "0.75"


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
        plan = plan_table(ranking, data.hparam_names, all_hparams, subset_label,
                          width=WIDTH * DPI, dpi=DPI, mark=INCOMPLETE_MARK)
        heights.append(_FRAME_HEIGHT + _ROW_HEIGHT * plan.lines)
    note_lines = notes(ranking, run_labels(data), figure=True)
    heights[-1] += _NOTE_HEIGHT * len(note_lines)
    return heights, ranking, plan, note_lines


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

    heights, ranking, plan, note_lines = _layout(data, metric, all_hparams)
    figure = Figure(figsize=(WIDTH, sum(heights)), dpi=DPI, layout="constrained")
    subsets = [
        subset for subset in data.subsets()
        if any(run.metric_series(metric, subset) for run, _, _ in ranking.ranked)
    ]
    rows = figure.subfigures(len(heights), 1, height_ratios=heights)
    names = run_labels(data)
    _draw_curves(rows[0], ranking, names, metric, subsets)
    _draw_bars(rows[1].subplots(), ranking, names, metric, subsets)
    if plan is not None:
        draw_table(rows[2].subplots(), plan)
    prefix = short_names([run.name for run in data.runs])[0]
    figure.suptitle(f"{metric} — {os.path.join(data.logdir, prefix)}")
    if note_lines:
        figure.supxlabel("\n".join(note_lines), fontsize="small", ha="left", x=0.01,
                         multialignment="left")
    return figure


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
                  label=f"{len(others)} others" if i == 0 else None, zorder=1, dots=False)
        for i, run in enumerate(colored):
            _plot(ax, run.metric_series(metric, subset), color=palette(i % 10),
                  label=names[run.name], zorder=2)
        ax.set_title(f"{subset_label(subset)} {metric}")
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
        # From every axes: a run may have logged train values only.
        handles = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        labels = [names[run.name] for run in colored if names[run.name] in handles]
        labels += [label for label in handles if label not in labels]  # the grey "others"
        title = f"best {len(colored)} of {len(runs)}" if others else "best first"
        axes[-1].legend([handles[label] for label in labels], labels,
                        loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                        fontsize="small", title=title, title_fontsize="small")


def _plot(ax, series, dots=True, **style):
    """Draws `series`; a single point as a marker, since a line of one
    point has no length and would not show. With `dots`, a short series
    marks each epoch."""
    if not series:
        return
    steps, values = zip(*series)
    if len(steps) == 1:
        style.update(marker="o", linestyle="none")
    elif dots and len(steps) < 30:
        style.update(marker=".")
    ax.plot(steps, values, **style)


def _draw_bars(ax, ranking, names, metric, subsets):
    import numpy as np

    shown = ranking.ranked[:MAX_BARS]
    positions = np.arange(len(shown))
    height = 0.8 / max(len(subsets), 1)
    for i, subset in enumerate(subsets):
        values = [final_value(run, metric, subset) for run, _, _ in shown]
        bars = ax.barh(positions + i * height, values, height=height, label=subset_label(subset))
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
