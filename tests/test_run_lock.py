"""A run directory is locked while a process trains it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import stop_process
from keras_tb_toolkit.toolkit import runs
from keras_tb_toolkit.toolkit.errors import RunLockedError

HOST = socket.gethostname()


def _ended_pid():
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=60)
    return process.pid


def _write_lock(run_dir, **holder):
    path = run_dir / runs.LOCK_FILE
    path.write_text(json.dumps({"started": "2026-01-02T03:04:05+00:00", **holder}))
    return path


def test_the_lock_names_its_holder_and_a_second_one_is_refused(tmp_path):
    with runs.RunLock(tmp_path) as held:
        stored = runs.read_lock(held.path)
        assert (stored["pid"], stored["host"]) == (os.getpid(), HOST)
        with pytest.raises(RunLockedError,
                           match=rf"^--run-name: {tmp_path} is being trained by process "
                                 rf"{os.getpid()} on {HOST} since .*; wait for it to end "
                                 r"or stop it \(a lock left by a killed process is taken over\)$"):
            runs.RunLock(tmp_path).acquire()
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} on {HOST}"):
            runs.check_unlocked(tmp_path)
    assert os.listdir(tmp_path) == []  # released


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    _write_lock(tmp_path, pid=_ended_pid(), host=HOST)
    assert runs.check_unlocked(tmp_path) == tmp_path
    with runs.RunLock(tmp_path) as held:
        assert runs.read_lock(held.path)["pid"] == os.getpid()
        assert os.listdir(tmp_path) == [runs.LOCK_FILE]  # nothing moved aside is left
    assert os.listdir(tmp_path) == []


def test_a_lock_held_on_another_host_is_refused_saying_so(tmp_path):
    path = _write_lock(tmp_path, pid=_ended_pid(), host="other-host.example")
    message = (rf"^--run-name: {tmp_path} is locked by process \d+ on host "
               r"other-host\.example since 2026-01-02T03:04:05\+00:00; this host cannot "
               rf"tell whether it still runs: if it does not, delete {path}$")
    with pytest.raises(RunLockedError, match=message):
        runs.RunLock(tmp_path).acquire()
    with pytest.raises(RunLockedError, match=message):
        runs.check_unlocked(tmp_path)
    assert runs.read_lock(path)["host"] == "other-host.example"


def test_a_lock_file_without_a_holder_is_waited_for_then_taken_over(tmp_path):
    path = tmp_path / runs.LOCK_FILE
    path.write_text("")  # a process created it and has not written it yet
    with pytest.raises(RunLockedError, match=r"is being locked by another process right now"):
        runs.RunLock(tmp_path).acquire()
    old = time.time() - runs.UNWRITTEN_LOCK_S - 5  # ...or was killed in between
    os.utime(path, (old, old))
    with runs.RunLock(tmp_path):
        assert runs.read_lock(path)["pid"] == os.getpid()


def test_release_leaves_a_lock_that_is_no_longer_its_own(tmp_path):
    lock = runs.RunLock(tmp_path).acquire()
    _write_lock(tmp_path, pid=os.getppid(), host=HOST, token="someone else's")
    lock.release()
    lock.release()
    assert runs.read_lock(lock.path)["token"] == "someone else's"


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path, monkeypatch):
    import errno

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        runs.RunLock(tmp_path).acquire()
    assert os.listdir(tmp_path) == []


def _ktb(*argv):
    return [sys.executable, "-m", "keras_tb_toolkit", *argv]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_two_resumes_cannot_train_one_run_and_a_killed_holder_is_taken_over(tmp_path):
    """A trains; B's resume is refused naming A; A is SIGKILLed; C resumes."""
    logdir = tmp_path / "logs"
    run_dir = logdir / "sequential" / "r"
    lock_path = run_dir / runs.LOCK_FILE
    common = ["--logdir", str(logdir), "--run-name", "r"]
    first = subprocess.Popen(
        _ktb("train", "--limit", "128", "--batch-size", "64", "--epochs", "8", *common),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (run_dir / "checkpoints" / "manifest.json").exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.2)
        assert runs.read_lock(lock_path)["pid"] == first.pid

        second = subprocess.run(_ktb("train", "--resume", *common),
                                capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the first run ended before the second was refused"
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(
            f"ktb train: error: --run-name: {run_dir} is being trained by process "
            f"{first.pid} on {HOST} since "
        )
        assert second.stderr.count("\n") == 1

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert runs.read_lock(lock_path)["pid"] == first.pid  # left behind
    finally:
        stop_process(first)
        first.stderr.close()

    third = subprocess.run(_ktb("train", "--resume", *common),
                           capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert "test accuracy:" in third.stdout
    assert (run_dir / "model.keras").is_file()
    assert not lock_path.exists()
