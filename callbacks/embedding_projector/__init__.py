"""`EmbeddingProjector`: layer embeddings for the TensorBoard Projector.

The callback is in `_callback`; sampling, embeddings and the Projector's
files (`_projector`) are its private helpers.
"""

from ._callback import EmbeddingProjector

__all__ = ["EmbeddingProjector"]
