"""`python -m keras_tb_toolkit.toolkit` is the `ktb` command."""

import sys

from .cli import main

sys.exit(main())
