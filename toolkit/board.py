"""TensorBoard served from this process, bound to 127.0.0.1 unless asked.

`start` runs the real TensorBoard (`tensorboard.program.TensorBoard` with
the default plugins) in background threads and returns its URL and a
function that stops it; `ktb board` and the tests use it.

It is made for watching training live: it reloads the log directory every
`DEFAULT_RELOAD_INTERVAL` seconds and follows every events file of a run
directory, not only the newest, so a run whose callbacks write into one
directory from several writers shows all of them as they grow.

Example:

    from keras_tb_toolkit.toolkit import board

    url, stop = board.start("logs")        # http://127.0.0.1:<free port>/
    try:
        ...                                # browse or query url + "data/runs"
    finally:
        stop()
"""

import signal
import socket
import threading
import typing

from . import _remote
from .runs import check_logdir
from .errors import ConfigError, LogDirError

__all__ = ["Board", "start", "wait"]

DEFAULT_HOST = "127.0.0.1"
# Short enough to see each epoch appear while training, long enough that
# TensorBoard's Python loader does not rescan the log directory constantly.
DEFAULT_RELOAD_INTERVAL = 2.0


class Board(typing.NamedTuple):
    """A running TensorBoard: its `url` and `stop()` (idempotent)."""

    url: str
    stop: typing.Callable[[], None]


def start(logdir, host=DEFAULT_HOST, port=0, reload_interval=DEFAULT_RELOAD_INTERVAL):
    """Starts TensorBoard on `logdir` and returns once it accepts connections.

    Data is loaded by TensorBoard's Python loader in a background thread
    (`--load_fast=false`), so nothing outlives the process in a separate
    data-server program; the first request may come before every run is
    loaded. That loader follows only the newest events file of each
    directory unless told otherwise (`--reload_multifile=true`, set here),
    and a run being trained may have several growing at once.

    Args:
        logdir: The directory to serve: a local one, which must exist, or a
            URL such as `gs://bucket/logs`, which TensorBoard reads through
            TensorFlow's file systems: it must be on one this TensorFlow
            has and reaches, and may not exist yet (training may create it
            later).
        host: Address to bind. Defaults to `"127.0.0.1"` (this machine only).
        port: Port to bind; 0 asks the system for a free one. Defaults to `0`.
        reload_interval: Seconds between reloads of `logdir`; 0 loads it
            once. Defaults to `2.0`.

    Returns:
        A `Board(url, stop)`.

    Raises:
        LogDirError: a local `logdir` is missing or is a file, or a URL has
            a scheme TensorBoard cannot read.
        FileSystemError: a URL on a file system this TensorFlow lacks or
            cannot reach (see `callbacks._fs`).
        ConfigError: `port`, `host` or `reload_interval` out of range, in use
            or not bindable.
    """
    if _remote.is_url(logdir):
        path = _remote.check_url(str(logdir), "LOGDIR")
    else:
        path = check_logdir(logdir)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"--port: must be an integer from 0 to 65535, received: {port!r}")
    if (not isinstance(reload_interval, (int, float)) or isinstance(reload_interval, bool)
            or not 0 <= reload_interval < float("inf")):
        raise ConfigError(
            f"reload_interval: must be a number >= 0, received: {reload_interval!r}"
        )
    _check_host(host)
    from . import _tensorboard_compat as compat

    try:
        url, server = compat.launch(
            logdir=path, host=host, port=port, load_fast="false",
            reload_multifile=True, reload_interval=float(reload_interval),
        )
    except compat.PortInUseError as error:
        raise ConfigError(f"--port: {error.msg}") from None
    except compat.ServerError as error:
        raise ConfigError(f"--host: {error.msg}") from None
    except compat.UnsupportedSchemeError as error:
        reason = error.message.removeprefix("Error: ")
        raise LogDirError(f"LOGDIR: {path}: {reason}") from None
    except OSError as error:
        raise ConfigError(f"--host: cannot serve on {host}:{port}: {error}") from None
    return Board(url=url, stop=_stopper(server))


def _check_host(host):
    """Fails unless `host` names an address of this machine that can be bound.

    Werkzeug, under TensorBoard, answers an unresolvable or foreign address
    by printing only the system's reason ("Name or service not known") and
    calling `sys.exit(1)`; so the address is tried here first, on a free
    port, and named in the error.

    Raises:
        ConfigError: `host` does not resolve, or is not this machine's.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.bind(address)
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ConfigError(
            f"--host: cannot serve on {host!r} ({reason}); give 127.0.0.1 (this "
            "machine only), an address of one of its interfaces, or 0.0.0.0 (all)"
        ) from None


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
