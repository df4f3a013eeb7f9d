"""`python -m keras_tb_toolkit` is the `ktb` command."""

import sys

from .toolkit.cli import main

sys.exit(main())
