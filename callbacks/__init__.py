"""Keras callbacks that write what training does as TensorBoard data.

Each callback takes the run directory as `log_dir` and writes with the layout
of `keras.callbacks.TensorBoard` (`train/`, `validation/`), so both can share
one run directory. This package needs only tensorflow, keras, tensorboard and
matplotlib; it never imports the `toolkit` application.
"""

__all__ = []
