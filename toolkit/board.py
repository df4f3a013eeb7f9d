"""TensorBoard served from this process, bound to 127.0.0.1 unless asked.

`start` runs the real TensorBoard (`tensorboard.program.TensorBoard` with
the default plugins) in background threads and returns its URL and a
function that stops it; `ktb board` and the tests use it.

Example:

    from keras_tb_toolkit.toolkit import board

    url, stop = board.start("logs")        # http://127.0.0.1:<free port>/
    try:
        ...                                # browse or query url + "data/runs"
    finally:
        stop()
"""

import signal
import threading
import typing

from .runs import check_logdir
from .errors import ConfigError

__all__ = ["Board", "start", "wait"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_RELOAD_INTERVAL = 5.0


class Board(typing.NamedTuple):
    """A running TensorBoard: its `url` and `stop()` (idempotent)."""

    url: str
    stop: typing.Callable[[], None]


def start(logdir, host=DEFAULT_HOST, port=0, reload_interval=DEFAULT_RELOAD_INTERVAL):
    """Starts TensorBoard on `logdir` and returns once it accepts connections.

    Data is loaded by TensorBoard's Python loader in a background thread
    (`--load_fast=false`), so nothing outlives the process in a separate
    data-server program; the first request may come before every run is
    loaded.

    Args:
        logdir: The directory to serve, which must exist.
        host: Address to bind. Defaults to `"127.0.0.1"` (this machine only).
        port: Port to bind; 0 asks the system for a free one. Defaults to `0`.
        reload_interval: Seconds between reloads of `logdir`; 0 loads it
            once. Defaults to `5.0`.

    Returns:
        A `Board(url, stop)`.

    Raises:
        LogDirError: `logdir` is missing or is a file.
        ConfigError: `port` or `host` out of range, in use or not bindable.
    """
    path = check_logdir(logdir)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"--port: must be an integer from 0 to 65535, received: {port!r}")
    if not isinstance(reload_interval, (int, float)) or reload_interval < 0:
        raise ConfigError(
            f"reload_interval: must be a number >= 0, received: {reload_interval!r}"
        )
    from tensorboard import default, program

    servers = []

    def make_server(wsgi_app, flags):
        server = program.WerkzeugServer(wsgi_app, flags)
        servers.append(server)
        return server

    tensorboard = program.TensorBoard(plugins=default.get_plugins(), server_class=make_server)
    tensorboard.configure(
        logdir=path, host=host, port=port, load_fast="false",
        reload_interval=float(reload_interval),
    )
    try:
        url = tensorboard.launch()
    except program.TensorBoardPortInUseError as error:
        raise ConfigError(f"--port: {error.msg}") from None
    except program.TensorBoardServerException as error:
        raise ConfigError(f"--host: {error.msg}") from None
    except OSError as error:
        raise ConfigError(f"--host: cannot serve on {host}:{port}: {error}") from None
    return Board(url=url, stop=_stopper(servers[0]))


def _stopper(server):
    lock = threading.Lock()
    stopped = []

    def stop():
        with lock:
            if not stopped:
                stopped.append(True)
                server.shutdown()
                server.server_close()

    return stop


def wait():
    """Blocks until Ctrl-C (SIGINT) or SIGTERM; raises KeyboardInterrupt then.

    Both handlers are installed explicitly: a process started in the
    background by a non-interactive shell inherits SIGINT ignored, and
    Python then never turns Ctrl-C into KeyboardInterrupt by itself.
    """
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {
        signum: signal.signal(signum, interrupt)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    forever = threading.Event()
    try:
        while not forever.wait(3600):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
