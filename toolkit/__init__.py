"""The application behind the `ktb` command (also `python -m keras_tb_toolkit`).

Data (`data`), the three API styles (`models`), search spaces
(`search_spaces`), training (`training`), searches (`tuning`), reports
(`report`) and the command line (`cli`). The callbacks it attaches live in the
standalone `keras_tb_toolkit.callbacks` package, which never imports this one.
"""

from .. import __version__

__all__ = ["__version__"]
