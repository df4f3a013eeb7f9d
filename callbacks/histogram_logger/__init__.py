"""`HistogramLogger`: weight, gradient and activation histograms.

The callback is in `_callback`; tags and bucketing (`_histograms`), the
capture of applied gradients (`_gradient_capture`) and the activations of
the fixed sample (`_layer_outputs`) are its private helpers.
"""

from ._callback import HistogramLogger

__all__ = ["HistogramLogger"]
