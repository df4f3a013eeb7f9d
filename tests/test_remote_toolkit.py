"""The toolkit on a file system reached through `tf.io.gfile`: TensorFlow's `ram://`.

`ram://` is process-global, so each test writes under a prefix of its own
and deletes it after. What was written is read back through `tf.io.gfile`.
A URL on a file system TensorFlow lacks, or cannot reach, is one line and
status 2, with nothing written.
"""

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_tb_toolkit.callbacks import HistoryPlotter, ScalarLogger
from keras_tb_toolkit.toolkit import board, data, report, runs, tuning
from keras_tb_toolkit.toolkit.cli import _quiet, main
from keras_tb_toolkit.toolkit.errors import ConfigError, DataError, RunLockedError
from keras_tb_toolkit.toolkit.tuning._tuners import clear_run_dir

pytestmark = pytest.mark.timeout(120)

# Unreachable where www.googleapis.com, GCS's host, does not resolve (no network):
# gs:// then fails at once with "Could not resolve host".
UNREACHABLE = "gs://keras-tb-toolkit-no-such-bucket-7c1f/logs"


def _offline():
    try:
        socket.getaddrinfo("www.googleapis.com", 443)
    except OSError:
        return True
    return False


offline = pytest.mark.skipif(not _offline(), reason="Google's storage API resolves here: "
                             "no unreachable gs:// to try")


def _write(path, content):
    """Writes a new file: ram:// appends to one that is there."""
    if tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(content)


@pytest.fixture
def ram():
    root = f"ram://{uuid.uuid4().hex}"
    tf.io.gfile.makedirs(root)  # rmtree wants a directory, not files only
    yield root
    if tf.io.gfile.exists(root):
        tf.io.gfile.rmtree(root)


def _schemes():
    return ", ".join(f"{s}://" for s in sorted(s for s in tf.io.gfile.get_registered_schemes() if s))


def _tiny_fit(run_dir, epochs=2):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 2, 32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_split=0.25, epochs=epochs, verbose=0,
              callbacks=[ScalarLogger(run_dir), HistoryPlotter(run_dir, formats=("png",))])


def test_ktb_report_reads_a_run_on_ram_and_writes_its_figure_there(ram, capsys):
    run_dir = f"{ram}/logs/exp/run1"
    _tiny_fit(run_dir)
    assert main(["report", f"{ram}/logs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"report written to {ram}/logs/report.png\n")
    assert f"1 runs under {ram}/logs/exp, ranked on the final accuracy" in out
    assert "best run: run1 (validation accuracy" in out
    with tf.io.gfile.GFile(f"{ram}/logs/report.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    # The probe of check_writable is deleted again.
    assert [n for n in tf.io.gfile.listdir(f"{ram}/logs") if "probe" in n] == []
    svg = f"{ram}/figures/r.svg"  # an object store has no folders to make first
    assert main(["report", f"{ram}/logs/exp", "--out", svg, "--metric", "loss"]) == 0
    assert capsys.readouterr().out.startswith(f"report written to {svg}\n")
    with tf.io.gfile.GFile(svg) as handle:
        assert "<svg" in handle.read(500)
    data_read = report.read_logdir(f"{ram}/logs")
    assert [run.name for run in data_read.runs] == ["exp/run1"]
    assert sorted(data_read.runs[0].scalars) == ["train", "validation"]
    assert [step for step, _ in data_read.runs[0].metric_series("loss", "train")] == [0, 1]


def test_a_truncated_events_file_on_ram_is_named(ram):
    run_dir = f"{ram}/logs/run"
    writer = tf.summary.create_file_writer(f"{run_dir}/train")
    with writer.as_default():
        for step in range(3):
            tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
    writer.close()
    (name,) = tf.io.gfile.listdir(f"{run_dir}/train")
    path = f"{run_dir}/train/{name}"
    with tf.io.gfile.GFile(path, "rb") as handle:
        content = handle.read()
    _write(path, content[:-5])
    (run,) = report.read_logdir(f"{ram}/logs").runs
    assert [(file, size) for file, _, size in run.incomplete] == [
        (f"run/train/{name}", len(content) - 5)
    ]


@pytest.mark.timeout(300)
def test_a_search_on_ram_writes_trial_runs_and_its_leaderboard(ram):
    result = tuning.run_search(
        data.load_arrays(), space="sequential", max_trials=2, epochs=1, logdir=ram,
        name="s", limit=256, batch_size=64, verbose=0,
    )
    search_dir = f"{ram}/s"
    trial_runs = {row.run for row in result.leaderboard}
    assert result.search_dir == search_dir and len(trial_runs) == 2
    assert trial_runs == {
        name.rstrip("/") for name in tf.io.gfile.listdir(search_dir) if name.startswith("trial_")
    }
    assert [row.status for row in result.leaderboard] == ["COMPLETED", "COMPLETED"]
    with tf.io.gfile.GFile(f"{search_dir}/search.json") as handle:
        assert json.load(handle)["max_trials"] == 2
    assert result.best_dir == f"{search_dir}/best"
    assert tf.io.gfile.exists(result.best_model_path)
    # The trials' runs and the leaderboard (text, in the search directory).
    read = report.read_logdir(search_dir)
    assert {run.name for run in read.trials} == trial_runs
    assert all(run.final("loss", "train") is not None for run in read.trials)
    tags = event_tags(search_dir)
    assert "leaderboard" in tags, tags


def event_tags(directory):
    """The summary tags in the events files directly in `directory`."""
    tags = set()
    for name in tf.io.gfile.listdir(directory):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(f"{directory}/{name}"):
                tags.update(value.tag for value in event.summary.value)
    return tags


def test_an_interrupted_trial_on_ram_is_cleared_but_its_record(ram):
    trial_dir = f"{ram}/s/trial_0"
    for name in ("trial.json", "checkpoint.weights.h5", "train/events.out.tfevents.1",
                 "plots/history.png"):
        _write(f"{trial_dir}/{name}", b"x")
    clear_run_dir(trial_dir)
    assert tf.io.gfile.listdir(trial_dir) == ["trial.json"]


def test_run_lock_on_ram_is_exclusive_and_released(ram):
    run_dir = runs.create_run_dir(ram, "exp", "r")
    assert run_dir == f"{ram}/exp/r" and tf.io.gfile.isdir(run_dir)
    with pytest.raises(ConfigError, match=f"^--run-name: {run_dir} already exists; "):
        runs.create_run_dir(ram, "exp", "r")
    assert runs.existing_run_dir(ram, "exp", "r") == run_dir
    with runs.RunLock(run_dir) as held:
        assert runs.read_lock(held.path)["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} on "):
            runs.RunLock(run_dir).acquire()
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} on "):
            runs.check_unlocked(run_dir)
    assert not tf.io.gfile.exists(held.path)


def test_a_stale_lock_on_ram_is_taken_over(ram):
    path = f"{ram}/run/{runs.LOCK_FILE}"
    dead = {"pid": 2**22 + 1, "host": socket.gethostname(), "token": "dead"}
    _write(path, json.dumps(dead).encode())
    with runs.RunLock(f"{ram}/run") as held:
        assert runs.read_lock(path)["token"] == held.token != "dead"


def test_a_lock_replaced_while_settling_is_refused(ram, monkeypatch):
    """Another process writes its lock between our write and our read back."""
    path = f"{ram}/run/{runs.LOCK_FILE}"
    other = {"pid": os.getppid(), "host": socket.gethostname(), "token": "theirs"}

    def other_process_writes(seconds):
        _write(path, json.dumps(other).encode())

    monkeypatch.setattr("keras_tb_toolkit.toolkit._run_lock.time.sleep", other_process_writes)
    with pytest.raises(RunLockedError, match=f"process {os.getppid()} on "):
        runs.RunLock(f"{ram}/run").acquire()
    assert runs.read_lock(path)["token"] == "theirs"


def test_an_npz_on_ram_is_loaded(ram):
    arrays = data.load_arrays()
    path = f"{ram}/mini.npz"
    buffer = io.BytesIO()  # np.savez needs tell(), which ram:// files lack
    np.savez(buffer, x_train=arrays.x_train[:8], y_train=arrays.y_train[:8],
             x_test=arrays.x_test[:4], y_test=arrays.y_test[:4])
    _write(path, buffer.getvalue())
    loaded = data.load_arrays(path)
    assert loaded.x_train.shape == (8, 28, 28) and loaded.y_test.tolist() == arrays.y_test[:4].tolist()
    with pytest.raises(DataError, match=f"^{ram}/missing.npz: no such file$"):
        data.load_arrays(f"{ram}/missing.npz")


@pytest.mark.parametrize(
    "argv, argument, value",
    [
        (["report", "foo://x"], "LOGDIR", "foo://x"),
        (["tune", "--logdir", "nosuch://x", "--limit", "64"], "--logdir", "nosuch://x"),
        (["board", "nosuch://x"], "LOGDIR", "nosuch://x"),
        (["tune", "--data", "nosuch://d.npz", "--limit", "64"], "--data", "nosuch://d.npz"),
    ],
)
def test_a_scheme_tensorflow_lacks_is_one_line_and_status_2(argv, argument, value, capsys,
                                                            tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    scheme = value.split("://")[0]
    assert err == (
        f"ktb {argv[0]}: error: {argument}: this TensorFlow has no file system for "
        f"{scheme}://, received: {value!r}; it has {_schemes()} and local paths "
        "(s3:// and hdfs:// come with tensorflow-io)\n"
    )
    assert os.listdir(tmp_path) == []


@offline
@pytest.mark.parametrize(
    "argv, argument",
    [
        (["report", UNREACHABLE], "LOGDIR"),
        (["tune", "--logdir", UNREACHABLE, "--limit", "64"], "--logdir"),
        (["board", UNREACHABLE], "LOGDIR"),
    ],
)
def test_an_unreachable_url_is_one_line_and_status_2(argv, argument, capsys, tmp_path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ktb {argv[0]}: error: {argument}: cannot reach {UNREACHABLE!r}: ")
    assert err.count("\n") == 1
    assert os.listdir(tmp_path) == []


@offline
@pytest.mark.slow
def test_an_unreachable_bucket_is_one_line_on_the_terminal_too(tmp_path):
    """TensorFlow's C++ warning about missing Google credentials is filtered out."""
    done = subprocess.run(
        [sys.executable, "-m", "keras_tb_toolkit", "report", UNREACHABLE],
        capture_output=True, text=True, timeout=90, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"ktb report: error: LOGDIR: cannot reach {UNREACHABLE!r}: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == "" and os.listdir(tmp_path) == []


def test_report_out_on_a_scheme_tensorflow_lacks_is_refused_before_reading(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", "foo://x/r.png"]) == 2
    assert capsys.readouterr().err.startswith(
        "ktb report: error: --out: this TensorFlow has no file system for foo://"
    )


def test_board_serves_a_ram_url(ram):
    _tiny_fit(f"{ram}/run", epochs=1)
    served = board.start(ram, reload_interval=0)
    try:
        deadline = time.monotonic() + 30
        while True:  # the first request may come before the runs are loaded
            with urllib.request.urlopen(served.url + "data/runs", timeout=10) as response:
                found = json.load(response)
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert set(found) == {"run/train", "run/validation"}
    finally:
        served.stop()


def test_the_missing_google_credentials_warning_is_start_up_noise():
    line = ("W0000 00:00:1795944791.885262    5026 google_auth_provider.cc:196] All attempts "
            "to get a Google authentication bearer token failed, returning an empty token.")
    assert _quiet.is_noise(line)
    assert not _quiet.is_noise(line.replace("google_auth_provider", "gcs_file_system"))
