"""`ktb train --resume` after SIGKILL ends with the weights of an uninterrupted run."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from keras_tb_toolkit.toolkit import cli

RUN = ["--limit", "256", "--batch-size", "64", "--epochs", "3", "--save-freq", "3",
       "--deterministic", "--seed", "7"]
TIMEOUT_S = 180


def _ktb(args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "keras_tb_toolkit", "train", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", **(env or {})},
    )


def _run_to_end(args, env=None):
    process = _ktb(args, env)
    try:
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == 0, err[-2000:]


def _kill_at(args, pause_env, nth):
    """Runs ktb train, SIGKILLs it at the `nth` pause inside a save."""
    process = _ktb(args, {"KTB_CHECKPOINT_TEST_PAUSE": pause_env})
    seen = []
    reached = threading.Event()

    def watch():
        for line in process.stderr:
            if line.startswith("KTB_CHECKPOINT_TEST_PAUSE"):
                seen.append(line)
                if len(seen) == nth:
                    reached.set()
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert reached.wait(TIMEOUT_S), f"never paused {nth} times: {seen}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return seen[-1]


def _check_manifest(checkpoint_dir):
    with open(os.path.join(checkpoint_dir, "manifest.json")) as handle:
        manifest = json.load(handle)
    assert manifest["checkpoints"]
    for entry in manifest["checkpoints"]:
        with open(os.path.join(checkpoint_dir, entry["file"]), "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == entry["sha256"]
    return manifest


def _weights(path):
    import keras

    return [w.numpy() for w in keras.saving.load_model(path).weights]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_twice_in_saves_then_resumed_ends_with_identical_weights(tmp_path):
    logdir = str(tmp_path)
    _run_to_end([*RUN, "--logdir", logdir, "--run-name", "straight"])

    crash = [*RUN, "--logdir", logdir, "--run-name", "crash"]
    resume = ["--logdir", logdir, "--run-name", "crash", "--resume"]
    checkpoints = tmp_path / "sequential" / "crash" / "checkpoints"
    # 1st kill: inside the second save (end of epoch 1), file written, not renamed.
    _kill_at(crash, "checkpoint_written:60", nth=2)
    first = _check_manifest(checkpoints)
    # 2nd kill, in the resumed run: between the new manifest's write and its rename.
    _kill_at(resume, "manifest_written:60", nth=2)
    second = _check_manifest(checkpoints)
    assert second["next_seq"] > first["next_seq"]
    _run_to_end(resume)
    _check_manifest(checkpoints)

    straight = _weights(str(tmp_path / "sequential" / "straight" / "model.keras"))
    resumed = _weights(str(tmp_path / "sequential" / "crash" / "model.keras"))
    assert len(straight) == len(resumed)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


def test_resume_needs_an_existing_run(tmp_path, capsys):
    assert cli.main(["train", "--resume", "--logdir", str(tmp_path)]) == 2
    assert "--resume needs --run-name NAME" in capsys.readouterr().err
    assert cli.main(["train", "--resume", "--run-name", "nope", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--resume: no run 'nope' under {tmp_path}/sequential to resume" in err
    assert cli.main(["train", "--save-freq", "0", "--logdir", str(tmp_path)]) == 2
    assert "argument --save-freq: must be 'epoch' or a positive number of batches, received: '0'" in capsys.readouterr().err


def test_resumed_curves_continue_at_the_right_step(tmp_path):
    """A run stopped after 2 of 3 epochs, resumed: steps go on at 2, none is rewritten."""
    import keras

    import events
    from keras_tb_toolkit.toolkit import training
    from keras_tb_toolkit.toolkit.config import TrainConfig, read_config

    class StopAfter(keras.callbacks.Callback):
        def __init__(self, epochs):
            super().__init__()
            self.epochs = epochs

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 >= self.epochs:
                self.model.stop_training = True

    config = TrainConfig(epochs=3, batch_size=64, limit=128, logdir=str(tmp_path), run_name="r")
    training.train(config, extra_callbacks=[StopAfter(2)], verbose=0)
    resumed = training.train(read_config(str(tmp_path), "sequential", "r"), verbose=0)
    assert resumed.initial_epoch == 2
    run_dir = tmp_path / "sequential" / "r"
    assert [s for s, _ in events.scalars(run_dir / "validation")["epoch_loss"]] == [0, 1, 2]
    assert [s for s, _ in events.scalars(run_dir / "train")["gradient_norm"]] == [0, 1, 2]
