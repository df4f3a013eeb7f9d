"""`ktb board`: TensorBoard on a log directory, on this machine only by default.

It follows every events file of every run and reloads every few seconds,
so start it before training and watch the curves grow.
"""

import argparse
import math

# toolkit.board imports TensorBoard only when it starts one.
from ..board import DEFAULT_HOST, DEFAULT_RELOAD_INTERVAL


def _port(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 (a free port) to 65535, received: {text!r}"
        )
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds >= 0 (0 loads once), received: {text!r}"
        )
    return value


def add_parser(commands):
    board = commands.add_parser("board", help="serve TensorBoard on a log directory")
    board.add_argument("logdir", metavar="LOGDIR", nargs="?", default="logs",
                       help="a directory, or a URL TensorBoard reads such as "
                       "gs://bucket/logs (default: %(default)s)")
    board.add_argument("--port", type=_port, default=0,
                       help="port to serve on; 0 picks a free one (default: %(default)s)")
    board.add_argument("--host", default=DEFAULT_HOST,
                       help="address to bind; another than 127.0.0.1 exposes the "
                       "board to the network (default: %(default)s)")
    board.add_argument("--reload-interval", type=_seconds, default=DEFAULT_RELOAD_INTERVAL, metavar="SECONDS",
                       help="how often new data is read; 0 reads once (default: %(default)s)")
    board.set_defaults(handler=run)


def run(args):
    from .. import board

    server = board.start(args.logdir, host=args.host, port=args.port,
                         reload_interval=args.reload_interval)
    print(f"TensorBoard at {server.url} (press Ctrl-C to stop)", flush=True)
    try:
        board.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("TensorBoard stopped", flush=True)
    return 0
