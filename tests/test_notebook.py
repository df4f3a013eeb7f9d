"""keras_tb_toolkit.notebook.board: TensorBoard inline, or one line saying why not.

A Jupyter kernel is stood in for by patching `IPython.get_ipython` and
`IPython.display.display` from outside; the TensorBoard server is real. It
loads the log directory once (`reload_interval=0`): TensorBoard's reloader
thread never ends, and one still reading files when pytest exits aborts the
process.
"""

import html
import re
import socket
import types
import urllib.error

import IPython
import IPython.display
import pytest
import tensorflow as tf

from helpers import get_json, poll_json
from keras_tb_toolkit import notebook
from keras_tb_toolkit.notebook import BoardUnavailableError, board


@pytest.fixture
def shown(monkeypatch):
    """The HTML each `display` call of a faked kernel received."""
    outputs = []
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", lambda obj: outputs.append(obj.data))
    monkeypatch.delenv(notebook.PROXY_URL_VARIABLE, raising=False)
    return outputs


@pytest.fixture
def logdir(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path / "run" / "train")).as_default():
        tf.summary.scalar("epoch_loss", 0.5, step=0)
    return tmp_path


def frame_source(output):
    return html.unescape(re.search(r'<iframe src="([^"]+)"', output).group(1))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_shows_the_served_logdir_once_per_directory(shown, logdir):
    first = board(logdir, reload_interval=0)
    try:
        assert first.url.startswith("http://127.0.0.1:")
        runs = poll_json(first.url + "data/runs", lambda runs: "run/train" in runs)
        assert runs == ["run/train"]
        again = board(str(logdir), height=300, reload_interval=0)
        assert again.url == first.url  # The same server, shown again.
        assert [frame_source(output) for output in shown] == [first.url, first.url]
        assert 'height="300"' in shown[1]
        assert f'href="{first.url}"' in shown[0]
    finally:
        first.stop()
    first.stop()  # idempotent
    with pytest.raises((urllib.error.URLError, ConnectionError, TimeoutError)):
        get_json(first.url + "data/runs", timeout=3)
    # Stopped, it is started afresh on the next call.
    restarted = board(logdir, reload_interval=0)
    restarted.stop()
    assert len(shown) == 3


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_creates_a_missing_logdir_and_uses_the_proxy_path(shown, tmp_path, monkeypatch):
    monkeypatch.setenv(notebook.PROXY_URL_VARIABLE, "/proxy/%PORT%/")
    started = board(tmp_path / "not-yet", reload_interval=0)
    try:
        port = started.url.rstrip("/").rsplit(":", 1)[1]
        assert (tmp_path / "not-yet").is_dir()
        assert frame_source(shown[0]) == f"/proxy/{port}/"
    finally:
        started.stop()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_port_in_use_is_one_line_naming_it(shown, logdir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BoardUnavailableError) as raised:
            board(logdir, port=port, reload_interval=0)
    message = str(raised.value)
    assert f"port {port}" in message and "port=0 for a free one" in message
    assert "\n" not in message
    assert raised.value._render_traceback_() == [f"BoardUnavailableError: {message}"]
    assert shown == []


@pytest.mark.parametrize("get_ipython", [
    lambda: None,  # A script.
    types.SimpleNamespace,  # A terminal IPython: a shell without a kernel.
])
def test_without_a_kernel_it_says_to_run_ktb_board(monkeypatch, tmp_path, get_ipython):
    monkeypatch.setattr(IPython, "get_ipython", get_ipython)
    monkeypatch.setattr(notebook._board, "start", pytest.fail)  # Nothing starts.
    with pytest.raises(BoardUnavailableError, match=(
            rf"^no Jupyter kernel here to show TensorBoard in; run "
            rf"`ktb board {re.escape(str(tmp_path))}` instead$")):
        board(tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    ({"port": -1}, "`port` must be an integer from 0 to 65535, received: -1"),
    ({"port": "6006"}, "`port` must be an integer from 0 to 65535, received: '6006'"),
    ({"port": 70000}, "`port` must be an integer from 0 to 65535, received: 70000"),
    ({"height": 0}, "`height` must be an integer >= 1, received: 0"),
    ({"height": True}, "`height` must be an integer >= 1, received: True"),
    ({"reload_interval": -1}, "`reload_interval` must be a number of seconds >= 0, received: -1"),
    ({"reload_interval": float("inf")},
     "`reload_interval` must be a number of seconds >= 0, received: inf"),
])
def test_invalid_arguments(shown, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        board(tmp_path, **kwargs)
    assert shown == []
