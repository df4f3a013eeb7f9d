"""`ktb report`: one figure and a text summary from a log directory.

The figure, drawn with `matplotlib.figure.Figure` (no pyplot, no window),
has the curves of the chosen metric for every run, one axes per subset
(train, validation) side by side; the final values of every run compared
in a bar chart, best first; and, for a search, the trials ranked with their
hyperparameters in a table.

Example:

    from keras_tb_toolkit.toolkit import report

    data = report.read_logdir("logs")
    metric = report.choose_metric(data)          # accuracy, else loss
    path, summary = report.write_report("logs", out="logs/report.svg")
    print(summary)
"""

import math
import os
import tempfile

from ._report_data import (
    LogData,
    RunData,
    check_logdir,
    choose_metric,
    is_epoch_metric,
    lower_is_better,
    metric_name,
    rank_runs,
    read_logdir,
)
from .errors import ConfigError

__all__ = [
    "FORMATS",
    "LogData",
    "RunData",
    "choose_metric",
    "rank_runs",
    "read_logdir",
    "report_figure",
    "summary_text",
    "write_report",
]

FORMATS = (".png", ".svg")
DPI = 100
WIDTH = 12.0  # inches
# Heights in inches: curves row; per bar-chart run and per table row, plus
# the room their titles and axes take.
_CURVES_HEIGHT = 4.0
_BAR_HEIGHT = 0.28
_ROW_HEIGHT = 0.3
_FRAME_HEIGHT = 1.2
# Beyond these the figure would be unreadable: only the best are shown.
MAX_BARS = 30
MAX_TABLE_ROWS = 20
MAX_LEGEND_RUNS = 12
MAX_SUMMARY_RUNS = 10
_SUBSET_LABELS = {"": "run directory"}


def figure_size(data):
    """`(width, height)` in inches of the report figure of `data`."""
    return WIDTH, sum(_row_heights(data))


def _row_heights(data):
    """Heights of the curves, bar chart and (for a search) table rows."""
    heights = [
        _CURVES_HEIGHT,
        _FRAME_HEIGHT + _BAR_HEIGHT * min(len(data.runs), MAX_BARS),
    ]
    if data.trials:
        rows = min(len(data.trials), MAX_TABLE_ROWS) + 1
        heights.append(_FRAME_HEIGHT + _ROW_HEIGHT * rows)
    return heights


def report_figure(data, metric):
    """Draws the report of `metric` over the runs of `data`.

    Args:
        data: A `LogData` from `read_logdir`.
        metric: A name from `data.metrics()`.

    Returns:
        A `matplotlib.figure.Figure` of `figure_size(data)` inches.
    """
    from matplotlib.figure import Figure

    width, height = figure_size(data)
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    subsets = [
        subset for subset in data.subsets()
        if any(run.metric_series(metric, subset) for run in data.runs)
    ]
    heights = _row_heights(data)
    rows = figure.subfigures(len(heights), 1, height_ratios=heights)
    colors = _run_colors(data.runs)
    _draw_curves(rows[0], data.runs, metric, subsets, colors)
    ranked = rank_runs(data.runs, metric)
    _draw_bars(rows[1].subplots(), ranked, metric, subsets, len(data.runs))
    if data.trials:
        trials = [item for item in ranked if item[0].hparams]
        _draw_table(rows[2].subplots(), trials, metric, subsets, data.hparam_names)
    figure.suptitle(f"{metric} — {data.logdir}")
    return figure


def _run_colors(runs):
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(runs) <= 10 else "viridis"]
    count = max(len(runs) - 1, 1)
    return {
        run.name: palette(i if len(runs) <= 10 else i / count)
        for i, run in enumerate(runs)
    }


def _draw_curves(subfigure, runs, metric, subsets, colors):
    from matplotlib.ticker import MaxNLocator

    axes = subfigure.subplots(1, max(len(subsets), 1), sharey=True, squeeze=False)[0]
    few = len(runs) <= MAX_LEGEND_RUNS
    for ax, subset in zip(axes, subsets):
        for run in runs:
            series = run.metric_series(metric, subset)
            if series:
                steps, values = zip(*series)
                ax.plot(steps, values, marker="." if few and len(steps) < 30 else None,
                        color=colors[run.name], label=run.name)
        ax.set_title(f"{_SUBSET_LABELS.get(subset, subset)} {metric}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(metric)
    if few:
        axes[-1].legend(fontsize="small", loc="best")
    else:
        subfigure.suptitle(f"{len(runs)} runs, colored in name order", fontsize="small")


def _draw_bars(ax, ranked, metric, subsets, total):
    import numpy as np

    shown = [item for item in ranked if item[1] is not None][:MAX_BARS]
    positions = np.arange(len(shown))
    height = 0.8 / max(len(subsets), 1)
    for i, subset in enumerate(subsets):
        values = [_final_value(run, metric, subset) for run, _, _ in shown]
        bars = ax.barh(positions + i * height, values, height=height,
                       label=_SUBSET_LABELS.get(subset, subset))
        ax.bar_label(bars, fmt="%.4g", fontsize="x-small", padding=2)
    ax.set_yticks(positions + height * (len(subsets) - 1) / 2,
                  [run.name for run, _, _ in shown], fontsize="small")
    ax.invert_yaxis()
    best = "lowest" if lower_is_better(metric) else "highest"
    more = f", best {len(shown)} of {total} runs" if len(shown) < total else ""
    ax.set_title(f"final {metric} ({best} first{more})")
    ax.grid(axis="x", alpha=0.3)
    if subsets:  # above the axes: bars fill the whole width
        ax.legend(fontsize="small", loc="lower right", bbox_to_anchor=(1.0, 1.0),
                  ncols=len(subsets), frameon=False)


def _draw_table(ax, trials, metric, subsets, hparam_names):
    ax.axis("off")
    shown = trials[:MAX_TABLE_ROWS]
    header = [
        "rank", "trial", *hparam_names,
        *(f"{_SUBSET_LABELS.get(subset, subset)} {metric}" for subset in subsets),
    ]
    cells = [
        [
            str(rank), run.name,
            *(_format(run.hparams.get(name, "")) for name in hparam_names),
            *(_format(_final_value(run, metric, subset)) for subset in subsets),
        ]
        for rank, (run, _, _) in enumerate(shown, start=1)
    ]
    more = f", best {len(shown)} of {len(trials)}" if len(shown) < len(trials) else ""
    ax.set_title(f"trials ranked by final {metric}{more}")
    table = ax.table(cellText=cells, colLabels=header, bbox=(0, 0, 1, 1), cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)


def _final_value(run, metric, subset):
    final = run.final(metric, subset)
    return final[1] if final else math.nan


def _format(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def summary_text(data, metric):
    """A few lines: the metric, the best run and the final values."""
    ranked = rank_runs(data.runs, metric)
    direction = "lower" if lower_is_better(metric) else "higher"
    lines = [f"{len(data.runs)} runs, metric {metric} ({direction} is better)"]
    run, subset, final = ranked[0]
    if final is not None:
        lines.append(
            f"best run: {run.name} ({subset or 'run directory'} {metric} "
            f"{_format(final[1])} at step {final[0]})"
        )
    lines.append("final values, best first:")
    for run, _, _ in ranked[:MAX_SUMMARY_RUNS]:
        parts = []
        for subset, tags in _ordered(run.scalars, data.subsets()):
            values = " ".join(
                f"{name}={_format(series[-1][1])}"
                for name, series in sorted(_metric_finals(tags).items())
            )
            parts.append(f"{subset or 'run'}: {values}")
        if run.hparams:
            parts.append("hparams: " + " ".join(
                f"{name}={_format(run.hparams[name])}"
                for name in data.hparam_names if name in run.hparams
            ))
        lines.append(f"  {run.name}  " + " | ".join(parts))
    if len(ranked) > MAX_SUMMARY_RUNS:
        lines.append(f"  ... and {len(ranked) - MAX_SUMMARY_RUNS} more runs (see the figure)")
    return "\n".join(lines)


def _ordered(scalars, subsets):
    return [(subset, scalars[subset]) for subset in subsets if subset in scalars]


def _metric_finals(tags):
    finals = {}
    for tag in sorted(tags, key=lambda tag: not tag.startswith("epoch_")):
        if is_epoch_metric(tag) and tags[tag]:
            finals.setdefault(metric_name(tag), tags[tag])
    return finals


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


def save_figure(figure, out):
    """Writes `figure` to `out` atomically: a temporary file, then a rename."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    extension = os.path.splitext(out)[1].lower()
    FigureCanvasAgg(figure)
    directory = os.path.dirname(os.path.abspath(out))
    fd, temp = tempfile.mkstemp(prefix=".ktb-report-", suffix=extension, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            figure.savefig(f, format=extension[1:], dpi=DPI)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, out)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def write_report(logdir, out=None, metric=None):
    """Reads `logdir`, draws its report to `out` and returns `(out, summary)`.

    Args:
        logdir: A log root, experiment, search or run directory.
        out: A .png or .svg path. Defaults to `<logdir>/report.png`.
        metric: The metric drawn and ranked. Defaults to accuracy when
            logged, else loss.

    Raises:
        ConfigError: bad `out` or unknown `metric`.
        LogDirError, ReportError: see `read_logdir`.
    """
    check_logdir(logdir)
    out = check_out(os.path.join(logdir, "report.png") if out is None else out)
    data = read_logdir(logdir)
    metric = choose_metric(data, metric)
    save_figure(report_figure(data, metric), out)
    return out, summary_text(data, metric)
