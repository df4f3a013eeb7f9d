"""`ktb train --resume` after SIGKILL ends with the weights of an uninterrupted run."""

import hashlib
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from keras_tb_toolkit.toolkit import cli

RUN = ["--limit", "256", "--batch-size", "64", "--epochs", "3", "--save-freq", "3",
       "--deterministic", "--seed", "7"]
TIMEOUT_S = 180
SAVE_STAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "save_stages.py")


def _ktb(args, kill_at=()):
    """`ktb train args`; with `kill_at=(stage, nth)`, run under `save_stages.py`,
    which SIGKILLs it the `nth` time a checkpoint save reaches `stage`."""
    wrapper = [SAVE_STAGES, kill_at[0], str(kill_at[1])] if kill_at else []
    return subprocess.Popen(
        [sys.executable, *wrapper, "-m", "keras_tb_toolkit", "train", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )


def _run_to_end(args):
    process = _ktb(args)
    try:
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == 0, err[-2000:]


def _kill_at(args, stage, nth):
    """Runs ktb train, which SIGKILLs itself at the `nth` `stage` of a save."""
    process = _ktb(args, kill_at=(stage, nth))
    try:
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, err[-2000:]
    killed = [line for line in err.splitlines() if line.startswith("KILLED")]
    assert len(killed) == 1 and f"stage={stage}" in killed[0], err[-2000:]
    return killed[0]


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
    _kill_at(crash, "checkpoint_written", nth=2)
    first = _check_manifest(checkpoints)
    # 2nd kill, in the resumed run: between the new manifest's write and its rename.
    _kill_at(resume, "manifest_written", nth=2)
    second = _check_manifest(checkpoints)
    assert second["next_seq"] > first["next_seq"]
    _run_to_end(resume)
    _check_manifest(checkpoints)

    straight = _weights(str(tmp_path / "sequential" / "straight" / "model.keras"))
    resumed = _weights(str(tmp_path / "sequential" / "crash" / "model.keras"))
    assert len(straight) == len(resumed)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


def _manifest_of(tmp_path, run_name):
    return _check_manifest(tmp_path / "sequential" / run_name / "checkpoints")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_killed_three_times_in_one_epoch_never_replays_a_batch(tmp_path):
    """Three kills at batches 3, 6 and 12 of the second epoch: every resumed
    segment counts its batches from the epoch's start, so the run ends at the
    uninterrupted run's step with its weights."""
    tiny = ["--limit", "96", "--batch-size", "8", "--epochs", "2", "--save-freq", "3",
            "--deterministic", "--seed", "3", "--logdir", str(tmp_path)]
    resume = ["--logdir", str(tmp_path), "--run-name", "crash", "--resume"]
    _run_to_end([*tiny, "--run-name", "straight"])
    straight = _manifest_of(tmp_path, "straight")["checkpoints"][-1]
    assert straight["global_step"] == 2 * 12

    # Epoch 0 makes 5 saves (batches 3, 6, 9, 12 and its end); the 6th is
    # batch 3 of epoch 1.
    _kill_at([*tiny, "--run-name", "crash"], "manifest_replaced", nth=6)
    _kill_at(resume, "manifest_replaced", nth=1)
    newest = _manifest_of(tmp_path, "crash")["checkpoints"][-1]
    assert (newest["epoch"], newest["batch"], newest["global_step"]) == (1, 6, 18)
    # Killed with batch 12's file renamed but not yet in the manifest.
    _kill_at(resume, "checkpoint_replaced", nth=2)
    newest = _manifest_of(tmp_path, "crash")["checkpoints"][-1]
    assert (newest["epoch"], newest["batch"], newest["global_step"]) == (1, 9, 21)
    _run_to_end(resume)

    manifest = _manifest_of(tmp_path, "crash")
    for entry in manifest["checkpoints"]:
        # The batch in each name is the step since the epoch began.
        assert entry["global_step"] - entry["batch"] == 12 * entry["epoch"]
    last = manifest["checkpoints"][-1]
    assert (last["epoch"], last["global_step"]) == (1, straight["global_step"])
    checkpoints = tmp_path / "sequential" / "crash" / "checkpoints"
    assert sorted(os.listdir(checkpoints)) == sorted(
        [e["file"] for e in manifest["checkpoints"]] + ["manifest.json", "pending.json"]
    )
    expected = _weights(str(tmp_path / "sequential" / "straight" / "model.keras"))
    resumed = _weights(str(tmp_path / "sequential" / "crash" / "model.keras"))
    for a, b in zip(expected, resumed):
        np.testing.assert_array_equal(a, b)


def test_resume_needs_an_existing_run(tmp_path, capsys):
    assert cli.main(["train", "--resume", "--logdir", str(tmp_path)]) == 2
    assert "--resume needs --run-name NAME" in capsys.readouterr().err
    assert cli.main(["train", "--resume", "--run-name", "nope", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--resume: no run 'nope' under {tmp_path}/sequential to resume" in err
    assert cli.main(["train", "--save-freq", "0", "--logdir", str(tmp_path)]) == 2
    assert "argument --save-freq: must be 'epoch' or a positive number of batches, received: '0'" in capsys.readouterr().err


@pytest.mark.slow
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
