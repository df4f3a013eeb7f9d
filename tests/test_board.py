"""`ktb board`: the real TensorBoard serves the runs, on 127.0.0.1, and stops."""

import re
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import tensorflow as tf

from helpers import get_json, poll_json
from keras_tb_toolkit.toolkit import board
from keras_tb_toolkit.toolkit.cli import main
from keras_tb_toolkit.toolkit.errors import ConfigError, LogDirError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = {"exp/a/train", "exp/a/validation", "exp/b/train"}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    for run in sorted(RUNS):
        with tf.summary.create_file_writer(str(root / run)).as_default():
            for step in range(3):
                tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
                tf.summary.scalar("epoch_accuracy", step / 4, step=step)
    return root


def assert_serves_logdir(url):
    runs = poll_json(url + "data/runs", lambda runs: RUNS <= set(runs))
    assert set(runs) == RUNS
    plugins = get_json(url + "data/plugins_listing")
    assert plugins["scalars"]["enabled"] is True
    tags = poll_json(url + "data/plugin/scalars/tags", lambda tags: RUNS <= set(tags))
    assert {run: set(tags[run]) for run in RUNS} == {
        run: {"epoch_loss", "epoch_accuracy"} for run in RUNS
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_start_serves_runs_and_tags_on_localhost_then_stops(logdir):
    url, stop = board.start(logdir, reload_interval=0)
    try:
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port > 0
        assert_serves_logdir(url)
    finally:
        stop()
    stop()  # idempotent
    # Some sandboxed network stacks accept a connection on a closed port
    # for a moment, so the proof is that nothing answers HTTP any more.
    with pytest.raises((urllib.error.URLError, ConnectionError, TimeoutError)):
        get_json(url + "data/runs", timeout=3)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_cli_prints_url_serves_and_exits_0_on_ctrl_c(logdir):
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_tb_toolkit", "board", str(logdir), "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    try:
        reader.start()
        deadline = time.monotonic() + 120
        while not lines and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lines, f"no URL printed; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        first = lines[0].strip()
        assert first.startswith("TensorBoard at http://127.0.0.1:"), first
        url = first.split()[2]
        assert_serves_logdir(url)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        reader.join(timeout=10)
        assert lines[-1].strip() == "TensorBoard stopped"
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


@pytest.mark.timeout(60)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        ([str(tmp_path / "missing")], rf"LOGDIR: {tmp_path}/missing does not exist$"),
        ([str(a_file)], r"LOGDIR: .*file\.txt is a file, not a directory"),
        (["nope://bucket/logs"],
         r"LOGDIR: this TensorFlow has no file system for nope://, received: "
         r"'nope://bucket/logs'; it has .*gs://.* and local paths \(s3:// and hdfs:// "
         r"come with tensorflow-io\)$"),
        ([str(tmp_path), "--port", "70000"],
         r"argument --port: must be an integer from 0 \(a free port\) to 65535, "
         r"received: '70000'$"),
        ([str(tmp_path), "--port", "http"], r"argument --port: .* received: 'http'$"),
        ([str(tmp_path), "--reload-interval", "-1"],
         r"argument --reload-interval: must be a number of seconds >= 0 \(0 loads once\), "
         r"received: '-1'$"),
        ([str(tmp_path), "--reload-interval", "nan"],
         r"argument --reload-interval: .* received: 'nan'$"),
        # Werkzeug printed only "Name or service not known" and exited 1.
        ([str(tmp_path), "--host", "256.1.1.1"],
         r"--host: cannot serve on '256\.1\.1\.1' \(Name or service not known\); "
         r"give 127\.0\.0\.1 \(this machine only\), an address of one of its "
         r"interfaces, or 0\.0\.0\.0 \(all\)$"),
        # An address of no interface of this machine (TEST-NET-1, RFC 5737).
        ([str(tmp_path), "--host", "192.0.2.1"],
         r"--host: cannot serve on '192\.0\.2\.1' \(Cannot assign requested address\)"),
    ]
    for argv, message in cases:
        assert main(["board", *argv]) == 2, argv
        stderr = capsys.readouterr().err.strip()
        assert len(stderr.splitlines()) == 1, stderr
        assert re.match("ktb board: error: " + message, stderr), stderr


@pytest.mark.timeout(60)
def test_start_errors(tmp_path):
    with pytest.raises(LogDirError, match="does not exist"):
        board.start(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"--port: must be an integer from 0 to 65535, received: -1"):
        board.start(tmp_path, port=-1)
    with pytest.raises(ConfigError, match=r"reload_interval: must be a number >= 0, received: -5"):
        board.start(tmp_path, reload_interval=-5)
    with pytest.raises(ConfigError, match=r"reload_interval: must be a number >= 0, received: inf"):
        board.start(tmp_path, reload_interval=float("inf"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"--port: TensorBoard could not bind to port {port}, it was already in use"):
            board.start(tmp_path, port=port, reload_interval=0)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_follows_every_events_file_of_a_run_while_it_grows(tmp_path):
    """Data appended to an older events file shows up, not only the newest file's.

    TensorBoard's Python loader, left to itself, reads only the newest
    events file of a directory: here "late" would never appear.
    """
    run = str(tmp_path / "run")
    older = tf.summary.create_file_writer(run)
    with older.as_default():
        tf.summary.scalar("first", 1.0, step=0)
    older.flush()
    time.sleep(1.1)  # events file names carry the second they were created
    newer = tf.summary.create_file_writer(run)
    with newer.as_default():
        tf.summary.scalar("second", 1.0, step=0)
    newer.flush()
    assert len(os.listdir(run)) == 2
    url, stop = board.start(tmp_path, reload_interval=0.2)
    try:
        poll_json(url + "data/plugin/scalars/tags",
                  lambda tags: {"first", "second"} <= set(tags.get("run", {})))
        with older.as_default():
            tf.summary.scalar("late", 2.0, step=1)
        older.flush()
        tags = poll_json(url + "data/plugin/scalars/tags",
                         lambda tags: "late" in tags.get("run", {}), deadline_s=30)
        assert set(tags["run"]) == {"first", "second", "late"}
    finally:
        stop()
        older.close()
        newer.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_url_logdir_goes_to_tensorboard_unchecked():
    """`ram://` stands for gs:// and the like: no local directory is required."""
    root = f"ram://board-{os.getpid()}/logs"
    with tf.summary.create_file_writer(root + "/exp/a").as_default():
        tf.summary.scalar("epoch_loss", 0.5, step=0)
    url, stop = board.start(root, reload_interval=0)
    try:
        runs = poll_json(url + "data/runs", lambda runs: "exp/a" in runs)
        assert runs == ["exp/a"]
        assert set(get_json(url + "data/plugin/scalars/tags")["exp/a"]) == {"epoch_loss"}
    finally:
        stop()
