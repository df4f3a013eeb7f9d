"""keras-tb-toolkit: train, search and look at Keras models in TensorBoard.

The application behind the `ktb` command: data (`toolkit.data`), the three
API styles (`toolkit.models`), training (`toolkit.training`) and the command
line (`toolkit.cli`). The callbacks it attaches live in the standalone
`callbacks` package.
"""

__version__ = "0.1.0"
