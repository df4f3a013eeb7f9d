"""`plot_history` and `HistoryPlotter`: training curves as a figure, in
TensorBoard and as files.

Both are in `_callback`; the series and figure layout (`_history`) are
their private helpers.
"""

from ._callback import HistoryPlotter, plot_history

__all__ = ["HistoryPlotter", "plot_history"]
