"""`HistogramLogger`: weight, gradient and activation histograms.

The callback is in `_callback`; tags and bucketing (`_histograms`) and the
capture of applied gradients (`_gradient_capture`) are its private helpers.
"""

from ._callback import HistogramLogger

__all__ = ["HistogramLogger"]
