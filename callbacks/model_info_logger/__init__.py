"""`ModelInfoLogger`: model summary, parameter counts and graph.

The callback is in `_callback`; summary text, counts and the forward graph
(`_graph`) are its private helpers.
"""

from ._callback import ModelInfoLogger

__all__ = ["ModelInfoLogger"]
