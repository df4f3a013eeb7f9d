"""The tables of `ktb report`: the trials ranked, drawn and printed.

A drawn table gets columns as wide as their text, measured with the Agg
renderer before anything is drawn: matplotlib's `Axes.table` gives every
column the same width unless told otherwise, which cut trial names and
made long headers run into each other. When the columns do not fit the
figure's width, the font gets smaller, headers break at "_", and at last
the hyperparameters set in fewest trials are left out, and the title says
how many.
"""

import dataclasses

from ._report_ranking import short_names, varied_hparams

MAX_TABLE_ROWS = 20
FONT_SIZES = (8, 7)  # points; below 7 the figure stops being legible
# Room left and right of the text in a cell, in font heights.
_PAD = 0.6
# What the figure's axes lose to margins, in inches, of the figure's width.
_MARGIN = 0.4
_HEADER_COLOR = "0.92"


@dataclasses.dataclass(frozen=True)
class TablePlan:
    """What `draw_table` draws, measured to fit.

    Attributes:
        header: Column titles, "\\n" where one breaks in two lines.
        cells: Rows of cell texts.
        widths: Column widths in pixels, text and padding.
        available: The width of the axes in pixels, about.
        fontsize: Points.
        title: The title above the table.
        header_lines: 1 or 2.
    """

    header: tuple
    cells: tuple
    widths: tuple
    available: float
    fontsize: float
    title: str
    header_lines: int

    @property
    def lines(self):
        """Lines of text the table is tall: the header's and one per row."""
        return self.header_lines + len(self.cells)


def plan_table(ranking, hparam_names, all_hparams, subset_label, *, width, dpi, mark):
    """Plans the table of the trials of `ranking`, best first.

    Args:
        ranking: A `Ranking`.
        hparam_names: Every hyperparameter name, in the search's order.
        all_hparams: Whether to show every hyperparameter, not only those
            that vary.
        subset_label: `subset -> label` for the objective's header.
        width: The figure's width in pixels.
        dpi: The figure's dots per inch.
        mark: Appended to the name of a trial read incompletely.

    Returns:
        A `TablePlan`.
    """
    trials = [item for item in ranking.ranked if item[0].hparams]
    shown = trials[:MAX_TABLE_ROWS]
    hparams = list(hparam_names) if all_hparams else varied_hparams(
        [run for run, _, _ in trials], hparam_names)
    names = short_names([run.name for run, _, _ in trials])[1]
    subsets = sorted({subset for _, subset, _ in shown}, key=lambda s: s != "validation")
    objective = f"{'/'.join(subset_label(s) for s in subsets)} {ranking.metric}"
    fixed = [
        [str(number), names[run.name] + (mark if run.incomplete else ""), f"{final[1]:.4g}"]
        for number, (run, _, final) in enumerate(shown, start=1)
    ]
    columns = [
        [name, *(_short(run.hparams[name]) if name in run.hparams else "" for run, _, _ in shown)]
        for name in hparams
    ]
    available = width - _MARGIN * dpi
    renderer = _renderer(dpi)
    kept = len(columns)
    while True:
        for fontsize in FONT_SIZES:
            header, widths = _fit(["rank", "trial", objective], fixed, columns[:kept],
                                  renderer, fontsize, dpi)
            if sum(widths) <= available or (kept == 0 and fontsize == FONT_SIZES[-1]):
                break
        else:
            kept -= 1
            continue
        break
    more = f", best {len(shown)} of {len(trials)}" if len(shown) < len(trials) else ""
    title = f"trials ranked by final {ranking.metric}{more}"
    if kept < len(columns):
        left_out = len(columns) - kept
        title += (f" ({left_out} more hyperparameter{'s' if left_out > 1 else ''} "
                  "in the text summary)")
    cells = tuple(
        tuple(row + [column[i + 1] for column in columns[:kept]]) for i, row in enumerate(fixed)
    )
    return TablePlan(
        header=tuple(header), cells=cells, widths=tuple(widths), available=available,
        fontsize=fontsize, title=title,
        header_lines=max(text.count("\n") + 1 for text in header),
    )


def _fit(fixed_header, fixed, columns, renderer, fontsize, dpi):
    """`(header, widths)`: a header that breaks where that narrows a column."""
    from matplotlib.font_manager import FontProperties

    font = FontProperties(size=fontsize)

    def text_width(text):
        return max(
            (renderer.get_text_width_height_descent(line, font, ismath=False)[0]
             for line in text.split("\n")),
            default=0.0,
        )

    pad = 2 * _PAD * fontsize / 72 * dpi
    header, widths = [], []
    all_columns = [
        [title, *(row[i] for row in fixed)] for i, title in enumerate(fixed_header)
    ] + columns
    for title, *values in all_columns:
        cells = max((text_width(value) for value in values), default=0.0)
        broken = _break(title)
        if text_width(broken) < text_width(title) and cells < text_width(title):
            title = broken
        header.append(title)
        widths.append(max(cells, text_width(title)) + pad)
    return header, widths


def _break(title):
    """"learning_rate" -> "learning_\\nrate": two lines at the middle "_" or " "."""
    cuts = [i + 1 for i, char in enumerate(title) if char in "_ "]
    if not cuts:
        return title
    cut = min(cuts, key=lambda i: abs(2 * i - len(title)))
    return title[:cut].rstrip(" ") + "\n" + title[cut:]


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _renderer(dpi):
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, dpi)


def draw_table(ax, plan):
    """Draws `plan` into `ax`, which it fills in height."""
    ax.axis("off")
    ax.set_title(plan.title, loc="left")
    total = sum(plan.widths)
    table = ax.table(
        cellText=[list(row) for row in plan.cells], colLabels=list(plan.header),
        colWidths=[w / total for w in plan.widths], cellLoc="left", colLoc="left",
        # As wide as the text needs: stretched to the axes, short columns
        # would spread out; the plan fits `available`, about the axes.
        bbox=(0, 0, min(1.0, total / plan.available), 1), edges="horizontal",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(plan.fontsize)
    pad = _PAD * plan.fontsize / 72 * ax.figure.dpi
    for (row, column), cell in table.get_celld().items():
        # Cell.PAD is a fraction of the cell's width: the same room in
        # every column needs its own fraction.
        cell.PAD = pad / plan.widths[column]
        if row == 0:
            cell.set_height(cell.get_height() * plan.header_lines)
            cell.set_facecolor(_HEADER_COLOR)
    return table
