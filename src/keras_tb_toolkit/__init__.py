"""keras-tb-toolkit: see what Keras training and Keras Tuner searches do, in TensorBoard.

One import root for the two parts of the distribution:

- `keras_tb_toolkit.callbacks`: Keras callbacks that write TensorBoard data,
  for your own projects (`from keras_tb_toolkit.callbacks import Checkpoint`);
- `keras_tb_toolkit.toolkit`: the application behind the `ktb` command
  (also `python -m keras_tb_toolkit`).

In the repository they are the top-level folders `callbacks/` and `toolkit/`;
setup.cfg maps them under this package, so installing never puts a package
named `callbacks` or `toolkit` on `sys.path`.
"""

__version__ = "0.2.0"
