"""`ktb board`: TensorBoard on a log directory, on this machine only by default."""

import argparse


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


def add_parser(commands):
    board = commands.add_parser("board", help="serve TensorBoard on a log directory")
    board.add_argument("logdir", metavar="LOGDIR", nargs="?", default="logs",
                       help="(default: %(default)s)")
    board.add_argument("--port", type=_port, default=0,
                       help="port to serve on; 0 picks a free one (default: %(default)s)")
    board.add_argument("--host", default="127.0.0.1",
                       help="address to bind; another than 127.0.0.1 exposes the "
                       "board to the network (default: %(default)s)")
    board.set_defaults(handler=run)


def run(args):
    from .. import board

    server = board.start(args.logdir, host=args.host, port=args.port)
    print(f"TensorBoard at {server.url} (press Ctrl-C to stop)", flush=True)
    try:
        board.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("TensorBoard stopped", flush=True)
    return 0
