"""TensorBoard shown inside a Jupyter notebook.

`board(logdir)` starts TensorBoard in the kernel's process (the toolkit's
`board.start`, bound to 127.0.0.1 on a free port) and shows it in the cell's
output, with a link to open it in a tab of its own. Start it before training
and it follows the runs as they are written.

Example, in a notebook cell:

```python
from keras_tb_toolkit.notebook import board

tensorboard = board("logs")  # shown below the cell
print(tensorboard.url)       # http://127.0.0.1:<free port>/
tensorboard.stop()           # or let it stop with the kernel
```
"""

import html
import os
import sys
import threading

from .toolkit import _remote, board as _board
from .toolkit.errors import ConfigError

__all__ = ["BoardUnavailableError", "board"]

# jupyter-server-proxy's convention, which `tensorboard.notebook` honours
# too: a path such as "/proxy/%PORT%/" under which the Jupyter server relays
# a local port to the browser.
PROXY_URL_VARIABLE = "TENSORBOARD_PROXY_URL"

_lock = threading.RLock()  # A replaced board stops while it is held.
_running = {}  # {absolute logdir: Board} of the boards this kernel serves.


class BoardUnavailableError(RuntimeError):
    """TensorBoard cannot be shown here; the message says what to do."""

    def _render_traceback_(self):
        # IPython prints this instead of a traceback: the one line is all
        # the user needs.
        return [f"{type(self).__name__}: {self}"]


def board(logdir, port=0, height=800,
          reload_interval=_board.DEFAULT_RELOAD_INTERVAL):
    """Shows TensorBoard on `logdir` in the notebook, started if needed.

    TensorBoard runs in the kernel's process, bound to 127.0.0.1 (this
    machine only), and stops with the kernel or with `stop()`. Calling
    `board` again for the same directory shows the same server again. The
    directory is created when missing, so TensorBoard can be started before
    training writes anything; a URL TensorFlow reaches (`gs://bucket/logs`)
    is served as it is.

    The output is the TensorBoard page in an inline frame and a link to it.
    When the notebook's browser is not on the kernel's machine, set
    `TENSORBOARD_PROXY_URL` (e.g. `"/proxy/%PORT%/"` with
    jupyter-server-proxy) and the frame uses that path instead, or forward
    the port (`ssh -L PORT:127.0.0.1:PORT host`).

    Args:
        logdir: The log directory to serve (e.g. the `logs` root or one
            run).
        port: Port to bind on 127.0.0.1; 0 picks a free one. Defaults to
            `0`.
        height: Height of the frame in pixels. Defaults to `800`.
        reload_interval: Seconds between reloads of `logdir`, so that
            training shows as it runs; 0 loads it once. Used when the
            server starts. Defaults to `2.0`.

    Returns:
        The toolkit's `Board(url, stop)` of the server.

    Raises:
        BoardUnavailableError: Outside a Jupyter kernel (the message says to
            run `ktb board <logdir>` instead), or when `port` cannot be
            bound (the message names it).
        ValueError: If `port`, `height` or `reload_interval` is outside
            its allowed values.
        LogDirError: If `logdir` is a file or cannot be created.
        FileSystemError: If `logdir` is a URL on a file system this
            TensorFlow lacks or cannot reach.

    Example:

    ```python
    from keras_tb_toolkit.notebook import board

    board("logs/my-model")  # in a notebook cell; elsewhere: ktb board logs/my-model
    ```
    """
    port = _check_int(port, "port", 0, 65535)
    height = _check_int(height, "height", 1, None)
    if (isinstance(reload_interval, bool)
            or not isinstance(reload_interval, (int, float))
            or not 0 <= reload_interval < float("inf")):
        raise ValueError(f"`reload_interval` must be a number of seconds >= 0, "
                         f"received: {reload_interval!r}")
    if _kernel_shell() is None:
        raise BoardUnavailableError(
            f"no Jupyter kernel here to show TensorBoard in; run "
            f"`ktb board {logdir}` instead"
        )
    path = os.fspath(logdir)
    path = path if _remote.is_url(path) else os.path.abspath(path)
    with _lock:
        running = _running.get(path)
        if running is None or port not in (0, _port_of(running.url)):
            running = _start(path, port, reload_interval)
    _show(running.url, logdir, height)
    return running


def _start(path, port, reload_interval):
    """Starts TensorBoard on `path`; called with `_lock` held.

    A local directory is created; a URL is served as it is (`board.start`
    checks that it is reachable; training creates it).
    """
    if not _remote.is_url(path):
        os.makedirs(path, exist_ok=True)
    try:
        started = _board.start(path, port=port, reload_interval=reload_interval)
    except ConfigError as error:
        reason = str(error).removeprefix("--port: ")
        raise BoardUnavailableError(
            f"cannot serve TensorBoard on 127.0.0.1 port {port}: {reason}; "
            f"pass another port, or port=0 for a free one"
        ) from None

    def stop():
        with _lock:
            if _running.get(path) is running:
                del _running[path]
        started.stop()

    running = _board.Board(url=started.url, stop=stop)
    previous = _running.get(path)
    _running[path] = running
    if previous is not None:
        # Another port was asked for the same directory: one server each
        # would load it twice.
        previous.stop()
    return running


def _show(url, logdir, height):
    from IPython import display  # The kernel has imported it already.

    proxy = os.environ.get(PROXY_URL_VARIABLE)
    source = proxy.replace("%PORT%", str(_port_of(url))) if proxy else url
    source, shown = html.escape(source, quote=True), html.escape(str(logdir))
    display.display(display.HTML(
        f'<p>TensorBoard on <code>{shown}</code>: '
        f'<a href="{source}" target="_blank">{source}</a></p>'
        f'<iframe src="{source}" width="100%" height="{height}" '
        f'frameborder="0"></iframe>'
    ))


def _kernel_shell():
    """The IPython shell of the running Jupyter kernel, or None."""
    # Never imports IPython: any kernel has imported it before user code.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    # A terminal IPython has a shell but no kernel and cannot show a frame.
    return shell if getattr(shell, "kernel", None) is not None else None


def _port_of(url):
    return int(url.rstrip("/").rsplit(":", 1)[1])


def _check_int(value, name, lowest, highest):
    if (isinstance(value, bool) or not isinstance(value, int) or value < lowest
            or (highest is not None and value > highest)):
        allowed = (f"an integer from {lowest} to {highest}" if highest is not None
                   else f"an integer >= {lowest}")
        raise ValueError(f"`{name}` must be {allowed}, received: {value!r}")
    return value
