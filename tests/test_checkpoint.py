"""Tests for `callbacks.checkpoint.Checkpoint`."""

import errno
import json
import math
import os
import re
import signal
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from helpers import (
    apply_with,
    mirrored_strategy,
    own_warnings,
    tape_step,
    tuner_search,
)

import save_stages
from keras_tb_toolkit.callbacks import _atomic_io
from keras_tb_toolkit.callbacks import Checkpoint
from keras_tb_toolkit.callbacks import CheckpointCorruptError
from keras_tb_toolkit.callbacks import CheckpointWriteError
from keras_tb_toolkit.callbacks.checkpoint import _manifest
from keras_tb_toolkit.callbacks.checkpoint import _monitor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.timeout(60)


def make_model(seed=0, compile=True):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)]
    )
    if compile:
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        model.optimizer.build(model.trainable_variables)
    return model


def make_data(n=32):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def drive(checkpoint, model, values, monitor="val_loss", fill=False):
    """Runs one 'fit' by hand: one save per value, as epoch-end logs."""
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    for epoch, value in enumerate(values):
        if fill:  # Recognisable weights: every variable holds epoch + 1.
            for w in model.weights:
                w.assign(np.full(w.shape, epoch + 1.0, "float32"))
        checkpoint.on_epoch_begin(epoch)
        checkpoint.on_epoch_end(epoch, {monitor: value})
    checkpoint.on_train_end()


def manifest_of(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        return json.load(f)


def assert_valid(directory, load=False):
    """The manifest validates and every file it names matches and loads."""
    manifest = _manifest.read(str(directory))
    assert manifest is not None
    for entry in manifest["checkpoints"]:
        assert _manifest.verify(str(directory), entry) is None, entry["file"]
        if load:
            path = os.path.join(directory, entry["file"])
            keras.saving.load_model(path, safe_mode=True)
    return manifest


def position(entry):
    return (
        entry["epoch"], entry["batch"], entry["end_of_epoch"], entry["global_step"]
    )


def weights_of(model):
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"directory": ""}, TypeError, "`directory` must be a non-empty path"),
        ({"monitor": ""}, TypeError, "`monitor` must be a non-empty metric"),
        (
            {"mode": "best"},
            ValueError,
            "`mode` must be one of 'auto', 'min', 'max', received: 'best'",
        ),
        (
            {"save_top_k": -1},
            ValueError,
            "`save_top_k` must be an integer >= 0, received: -1",
        ),
        (
            {"keep_last": 0},
            ValueError,
            "`keep_last` must be an integer >= 1, received: 0",
        ),
        (
            {"save_freq": 12.5},
            ValueError,
            "`save_freq` must be 'epoch' or an integer >= 1, received: 12.5",
        ),
        (
            {"save_freq": True},
            ValueError,
            "`save_freq` must be 'epoch' or an integer >= 1, received: True",
        ),
        (
            {"save_weights_only": "yes"},
            TypeError,
            "`save_weights_only` must be True or False, received: 'yes'",
        ),
    ],
)
def test_rejects_bad_arguments(tmp_path, kwargs, error, message):
    kwargs = {"directory": str(tmp_path / "ckpt"), **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        Checkpoint(**kwargs)


def test_rejects_a_file_as_directory_and_writes_nothing_in_init(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="`directory` must be a directory"):
        Checkpoint(tmp_path / "afile")
    Checkpoint(tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_auto_mode_follows_metric_direction_then_name():
    model = make_model()
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy", "mae"])
    model.fit(*make_data(8), verbose=0)
    assert _monitor.resolve_mode("val_accuracy", "auto", model) == "max"
    assert _monitor.resolve_mode("val_mae", "auto", model) == "min"
    assert _monitor.resolve_mode("val_loss", "auto") == "min"
    assert _monitor.resolve_mode("val_auc", "auto") == "max"
    assert _monitor.resolve_mode("val_acc", "auto") == "max"
    assert _monitor.resolve_mode("val_acc", "min") == "min"


VALUES = [0.5, 0.3, 0.4, 0.6, 0.2, 0.35]


@pytest.mark.parametrize(
    "monitor, mode, best_seqs",
    [
        ("val_loss", "min", [2, 5]),
        ("val_loss", "auto", [2, 5]),
        ("val_acc", "max", [1, 4]),
        ("val_acc", "auto", [1, 4]),
    ],
)
def test_keeps_top_k_and_last(tmp_path, monitor, mode, best_seqs):
    checkpoint = Checkpoint(tmp_path, monitor=monitor, mode=mode, save_top_k=2)
    drive(checkpoint, make_model(), VALUES, monitor=monitor)
    manifest = assert_valid(tmp_path)
    kinds = {e["seq"]: e["kind"] for e in manifest["checkpoints"]}
    assert kinds == {best_seqs[0]: ["best"], best_seqs[1]: ["best"], 6: ["last"]}
    best = [e for e in manifest["checkpoints"] if e["seq"] == best_seqs[1]][0]
    assert manifest["best_file"] == best["file"]
    assert manifest["best"] == VALUES[best_seqs[1] - 1] == checkpoint.best
    names = {e["file"] for e in manifest["checkpoints"]}
    assert set(os.listdir(tmp_path)) == names | {"manifest.json", "pending.json"}
    assert manifest["mode"] == ("max" if monitor == "val_acc" else "min")


def test_manifest_after_fit(tmp_path):
    model = make_model()
    x, y = make_data(40)
    checkpoint = Checkpoint(tmp_path / "ckpt", save_top_k=3)
    history = model.fit(
        x, y, validation_split=0.2, batch_size=8, epochs=3, verbose=0,
        callbacks=[checkpoint],
    )
    losses = history.history["val_loss"]
    directory = tmp_path / "ckpt"
    manifest = manifest_of(directory)
    assert manifest["format"] == "keras-tb-toolkit.checkpoint"
    assert (manifest["version"], manifest["monitor"], manifest["mode"]) == (
        1, "val_loss", "min",
    )
    assert manifest["next_seq"] == 4
    assert manifest["best"] == pytest.approx(min(losses))
    entries = manifest["checkpoints"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    for epoch, entry in enumerate(entries):
        value = losses[epoch]
        step = 4 * (epoch + 1)
        assert entry["file"] == (
            f"epoch={epoch + 1:04d}-step={step:06d}-val_loss={value:.4f}.keras"
        )
        assert entry["epoch"] == epoch and entry["batch"] == 4
        assert entry["end_of_epoch"] is True and entry["weights_only"] is False
        assert entry["global_step"] == step
        assert entry["value"] == pytest.approx(value)
        assert entry["best_so_far"] == pytest.approx(min(losses[: epoch + 1]))
        digest, size = _atomic_io.file_digest(directory / entry["file"])
        assert (entry["sha256"], entry["size"]) == (digest, size)
        expected_kind = ["best", "last"] if epoch == 2 else ["best"]
        assert entry["kind"] == expected_kind
    best = min(entries, key=lambda e: e["value"])["file"]
    assert manifest["best_file"] == best
    assert sorted(os.listdir(directory)) == sorted(
        [e["file"] for e in entries] + ["manifest.json", "pending.json"]
    )


def test_nan_and_inf_never_become_best(tmp_path):
    checkpoint = Checkpoint(tmp_path, save_top_k=2)
    drive(checkpoint, make_model(), [math.nan, 0.5, math.inf, 0.4, math.nan])
    manifest = assert_valid(tmp_path)
    entries = {e["seq"]: e for e in manifest["checkpoints"]}
    assert {s: e["kind"] for s, e in entries.items()} == {
        2: ["best"], 4: ["best"], 5: ["last"],
    }
    assert math.isnan(entries[5]["value"]) and "val_loss=nan" in entries[5]["file"]
    assert manifest_of(tmp_path)["checkpoints"][-1]["value"] == "nan"
    assert entries[5]["best_so_far"] == 0.4
    assert manifest["best"] == 0.4 == checkpoint.best

    only_nan = tmp_path / "only_nan"
    checkpoint = Checkpoint(only_nan)
    drive(checkpoint, make_model(), [math.nan])
    manifest = assert_valid(only_nan)
    assert manifest["best"] is None and manifest["best_file"] is None
    assert manifest["checkpoints"][0]["kind"] == ["last"]


def test_missing_monitor_warns_once_and_keeps_last(tmp_path):
    model = make_model()
    checkpoint = Checkpoint(tmp_path)
    with pytest.warns(UserWarning) as record:
        model.fit(*make_data(), epochs=2, verbose=0, callbacks=[checkpoint])
    messages = own_warnings(record, "Checkpoint")
    assert messages == [
        "Checkpoint: monitor 'val_loss' is not in the logs (available: "
        "['loss', 'mae']); checkpoints are kept as 'last' only."
    ]
    manifest = assert_valid(tmp_path)
    assert [e["kind"] for e in manifest["checkpoints"]] == [["last"]]


@pytest.mark.parametrize("weights_only", [False, True])
def test_restore_gives_weights_optimizer_and_position(tmp_path, weights_only):
    model = make_model()
    x, y = make_data()
    checkpoint = Checkpoint(tmp_path, save_weights_only=weights_only)
    history = model.fit(
        x, y, validation_split=0.25, batch_size=8, epochs=2, verbose=0,
        callbacks=[checkpoint],
    )
    fresh = make_model(seed=1)
    state = Checkpoint(tmp_path, save_weights_only=weights_only).restore(fresh)
    extension = ".weights.h5" if weights_only else ".keras"
    assert state.path.endswith(extension) and state.model is fresh
    assert (state.initial_epoch, state.batches_consumed) == (2, 0)
    assert state.global_step == 6 == int(fresh.optimizer.iterations)
    assert state.best == pytest.approx(min(history.history["val_loss"]))
    for a, b in zip(weights_of(model), weights_of(fresh)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    if weights_only:
        with pytest.raises(ValueError, match="needs `model` for weights-only"):
            Checkpoint(tmp_path).restore()
    else:
        loaded = Checkpoint(tmp_path).restore().model
        assert loaded is not model
        for a, b in zip(weights_of(model), weights_of(loaded)):
            np.testing.assert_array_equal(a, b)


def test_restore_needs_built_model_and_returns_none_when_empty(tmp_path):
    assert Checkpoint(tmp_path / "none").restore(make_model()) is None
    assert not (tmp_path / "none").exists()
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="restore\\(\\) needs a built model"):
        Checkpoint(tmp_path).restore(unbuilt)


def corrupt(path, how):
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        flipped = bytes(b ^ 0xFF for b in data[middle : middle + 16])
        path.write_bytes(data[:middle] + flipped + data[middle + 16 :])


@pytest.mark.parametrize(
    "how, fault",
    [
        ("truncate", "size \\d+ bytes, manifest says \\d+"),
        ("flip", "sha256 checksum mismatch"),
    ],
)
def test_corrupt_newest_falls_back_to_previous(tmp_path, how, fault):
    model = make_model()
    checkpoint = Checkpoint(tmp_path, save_top_k=3)
    drive(checkpoint, model, [0.5, 0.4, 0.3], fill=True)
    newest = manifest_of(tmp_path)["checkpoints"][-1]["file"]
    corrupt(tmp_path / newest, how)

    fresh = make_model(seed=1)
    resumed = Checkpoint(tmp_path, save_top_k=3)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        state = resumed.restore(fresh)
    messages = own_warnings(record, "Checkpoint")
    assert len(messages) == 1
    assert re.search(
        f"skipped 1 newer checkpoint\\(s\\) in {re.escape(repr(str(tmp_path)))} "
        f"\\({re.escape(newest)}: {fault}\\); restored 'epoch=0002",
        messages[0],
    )
    assert (state.initial_epoch, state.best) == (2, 0.4)
    assert all(np.all(w == 2.0) for w in weights_of(fresh))

    # Training on: the rejected file leaves the manifest, then the disk.
    resumed.set_model(fresh)
    resumed.on_train_begin()
    resumed.on_epoch_begin(2)
    resumed.on_epoch_end(2, {"val_loss": 0.35})
    resumed.on_train_end()
    manifest = assert_valid(tmp_path)
    assert newest not in {e["file"] for e in manifest["checkpoints"]}
    assert not (tmp_path / newest).exists()
    assert manifest["best"] == 0.35


def test_restore_prefers_the_best_finite_checkpoint_over_nan_weights(tmp_path):
    model = make_model()
    checkpoint = Checkpoint(tmp_path, save_top_k=3)
    drive(checkpoint, model, [0.5, 0.3, 0.4], fill=True)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_begin(3)
    for w in model.weights:  # Diverged: the newest save holds NaN weights.
        w.assign(np.full(w.shape, np.nan, "float32"))
    checkpoint.on_epoch_end(3, {"val_loss": float("nan")})
    checkpoint.on_train_end()
    names = [e["file"] for e in manifest_of(tmp_path)["checkpoints"]]

    fresh = make_model(seed=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        state = Checkpoint(tmp_path).restore(fresh)
    assert own_warnings(record, "Checkpoint") == [
        f"Checkpoint: the newest checkpoint {names[-1]!r} holds NaN or inf "
        f"weights; restored {names[1]!r} instead, the best with finite weights "
        "(val_loss=0.3)."
    ]
    assert (state.initial_epoch, state.path) == (2, str(tmp_path / names[1]))
    assert all(np.all(w == 2.0) for w in weights_of(fresh))


def test_no_valid_checkpoint_is_an_error_naming_the_directory(tmp_path):
    checkpoint = Checkpoint(tmp_path)
    drive(checkpoint, make_model(), [0.5, 0.4])
    for entry in manifest_of(tmp_path)["checkpoints"]:
        corrupt(tmp_path / entry["file"], "flip")
    message = f"No valid checkpoint in {re.escape(repr(str(tmp_path)))}: epoch="
    with pytest.raises(CheckpointCorruptError, match=message):
        Checkpoint(tmp_path).restore(make_model())


def test_lost_manifest_is_rebuilt_from_the_files_that_load(tmp_path):
    checkpoint = Checkpoint(tmp_path, save_top_k=3, save_freq=2)
    model = make_model()
    x, y = make_data(32)
    model.fit(x, y, batch_size=8, validation_split=0.25, epochs=2, verbose=0,
              callbacks=[checkpoint])
    files = sorted(e["file"] for e in manifest_of(tmp_path)["checkpoints"])
    newest = manifest_of(tmp_path)["checkpoints"][-1]
    (tmp_path / "manifest.json").unlink()
    broken = "epoch=0002-batch=0003-step=000009.keras"  # Newer, not loadable.
    (tmp_path / broken).write_bytes(b"not a zip")

    # Training on without restore() would orphan the files: it refuses.
    message = (r"holds checkpoint files but no manifest.json \(.*"
               + re.escape(broken) + r".*\); call restore\(\) to rebuild it")
    with pytest.raises(CheckpointCorruptError, match=message):
        drive(Checkpoint(tmp_path), make_model(seed=1), [0.4])

    fresh = make_model(seed=1)
    resumed = Checkpoint(tmp_path, save_top_k=3, save_freq=2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        state = resumed.restore(fresh)
    [message] = own_warnings(record, "Checkpoint")
    assert message.startswith(
        f"Checkpoint: {str(tmp_path)!r} had no manifest.json; rebuilt it from "
        f"the {len(files)} checkpoint file(s) that load; left unlisted: {broken}: "
        "does not load ("
    )
    assert message.endswith(f"resuming from {newest['file']!r}.")
    assert (state.initial_epoch, state.batches_consumed, state.global_step) == (2, 0, 6)
    assert state.best == pytest.approx(newest["best_so_far"], abs=1e-4)
    for a, b in zip(weights_of(model), weights_of(fresh)):
        np.testing.assert_array_equal(a, b)
    rebuilt = assert_valid(tmp_path, load=True)
    assert sorted(e["file"] for e in rebuilt["checkpoints"]) == files

    # Training on keeps every file the toolkit did not itself write.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        drive(resumed, fresh, [0.1])
    [message] = own_warnings(record, "Checkpoint")
    assert message == (f"Checkpoint: {str(tmp_path)!r} holds files its "
                       f"manifest.json does not list, left in place: {broken}.")
    assert (tmp_path / broken).exists()


def test_no_loadable_file_and_no_manifest_refuses_naming_the_files(tmp_path):
    (tmp_path / "epoch=0001-step=000004.keras").write_bytes(b"torn")
    message = (f"No valid checkpoint in {re.escape(repr(str(tmp_path)))}: it has "
               "no manifest.json and none of its files loads "
               "\(epoch=0001-step=000004.keras: does not load \(")
    with pytest.raises(CheckpointCorruptError, match=message):
        Checkpoint(tmp_path).restore(make_model())
    assert (tmp_path / "epoch=0001-step=000004.keras").exists()


def test_an_unlisted_file_is_deleted_only_when_a_killed_save_wrote_it(tmp_path):
    drive(Checkpoint(tmp_path, save_top_k=1), make_model(), [0.5])
    listed = manifest_of(tmp_path)["checkpoints"][0]["file"]
    # What a save killed after its rename leaves: the new file, unlisted.
    ours = "epoch=0002-step=000008-val_loss=0.4000.keras"
    (tmp_path / ours).write_bytes((tmp_path / listed).read_bytes())
    (tmp_path / "pending.json").write_text(json.dumps({"file": ours, "dropped": []}))
    foreign = "epoch=0009-step=000099.keras"
    (tmp_path / foreign).write_bytes(b"someone else's")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        drive(Checkpoint(tmp_path, save_top_k=1), make_model(), [0.6])
    assert not (tmp_path / ours).exists()
    assert (tmp_path / foreign).exists()
    assert own_warnings(record, "Checkpoint") == [
        f"Checkpoint: {str(tmp_path)!r} holds files its manifest.json does not "
        f"list, left in place: {foreign}."
    ]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"{not json", "Expecting property name"),
        (None, "checkpoint '../evil.keras' has a bad 'file': '../evil.keras'"),
    ],
)
def test_invalid_manifest_is_an_error(tmp_path, content, reason):
    drive(Checkpoint(tmp_path), make_model(), [0.5])
    path = tmp_path / "manifest.json"
    if content is None:
        manifest = manifest_of(tmp_path)
        manifest["checkpoints"][0]["file"] = "../evil.keras"
        content = json.dumps(manifest).encode()
    path.write_bytes(content)
    message = (
        f"Checkpoint manifest {re.escape(repr(str(path)))} is not valid "
        f"\\({re.escape(reason)}"
    )
    with pytest.raises(CheckpointCorruptError, match=message):
        Checkpoint(tmp_path).restore(make_model())
    with pytest.raises(CheckpointCorruptError, match=message):
        drive(Checkpoint(tmp_path), make_model(), [0.4])


def test_directory_ranking_another_monitor_is_an_error(tmp_path):
    drive(Checkpoint(tmp_path), make_model(), [0.5])
    message = (
        "ranks 'val_loss' (min), but this callback has monitor='val_acc' (max)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        drive(Checkpoint(tmp_path, monitor="val_acc"), make_model(), [0.5], "val_acc")


def test_unwritable_directory_fails_before_training(tmp_path):
    (tmp_path / "afile").write_text("a regular file")
    directory = tmp_path / "afile" / "ckpt"
    model = make_model()
    message = f"Checkpoint directory {re.escape(repr(str(directory)))} is not writable"
    with pytest.raises(CheckpointWriteError, match=message):
        model.fit(*make_data(), epochs=1, verbose=0, callbacks=[Checkpoint(directory)])
    assert int(model.optimizer.iterations) == 0


def test_full_disk_keeps_previous_checkpoints(tmp_path, monkeypatch):
    model = make_model()
    checkpoint = Checkpoint(tmp_path)
    drive(checkpoint, model, [0.5])
    before = (tmp_path / "manifest.json").read_bytes()

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Sequential, "save", full_disk)
    checkpoint.on_train_begin()
    message = (
        "Could not write checkpoint 'epoch=0001-step=000000-val_loss=0.4000"
        ".keras' in .*No space left on device.* The 1 checkpoint\\(s\\) named "
        "in its manifest.json are intact\\.$"
    )
    with pytest.raises(CheckpointWriteError, match=message):
        checkpoint.on_epoch_end(0, {"val_loss": 0.4})
    assert (tmp_path / "manifest.json").read_bytes() == before
    # No temporary file left: the checkpoint, manifest.json, pending.json.
    assert len(os.listdir(tmp_path)) == 3
    assert_valid(tmp_path, load=True)
    monkeypatch.undo()

    def failing_commit(temp_path, final_path):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_atomic_io, "commit_file", failing_commit)
    checkpoint.on_epoch_end(1, {"val_loss": 0.3})  # Fails on the writer thread.
    with pytest.raises(CheckpointWriteError, match="Input/output error"):
        checkpoint.on_train_end()
    assert (tmp_path / "manifest.json").read_bytes() == before
    assert len(os.listdir(tmp_path)) == 3


def test_a_failed_save_says_only_what_is_really_intact(tmp_path):
    directory = tmp_path / "ckpt"
    checkpoint = Checkpoint(directory)
    drive(checkpoint, make_model(), [0.5])
    checkpoint.on_train_begin()
    for name in os.listdir(directory):  # Deleted while training goes on.
        os.remove(directory / name)
    os.rmdir(directory)
    message = ("Could not write checkpoint 'epoch=0001-step=000000-val_loss=0.4000"
               ".keras' in .*No such file or directory.* It holds no manifest.json: "
               "no checkpoint is known intact\\.$")
    with pytest.raises(CheckpointWriteError, match=message):
        checkpoint.on_epoch_end(0, {"val_loss": 0.4})


def test_every_save_stage_leaves_a_valid_directory(tmp_path, monkeypatch):
    seen = []

    def check(stage, path):
        seen.append(stage)
        if len(seen) > 3:  # The first manifest is in place at stage 4.
            assert_valid(tmp_path)

    monkeypatch.setattr(os, "replace", save_stages.watching_replace(check))
    drive(Checkpoint(tmp_path, save_top_k=1), make_model(), [0.5, 0.6, 0.4])
    assert seen == list(save_stages.STAGES) * 3
    # best + last = one file here, with the manifest and the save record.
    assert len(os.listdir(tmp_path)) == 3


def test_one_instance_serves_two_fits(tmp_path):
    model = make_model()
    x, y = make_data()
    checkpoint = Checkpoint(tmp_path, save_top_k=10)
    losses = []
    for _ in range(2):
        history = model.fit(
            x, y, validation_split=0.25, batch_size=8, epochs=2, verbose=0,
            callbacks=[checkpoint],
        )
        losses += history.history["val_loss"]
    manifest = assert_valid(tmp_path)
    entries = manifest["checkpoints"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert [e["epoch"] for e in entries] == [0, 1, 0, 1]
    assert [e["global_step"] for e in entries] == [3, 6, 9, 12]
    assert len({e["file"] for e in entries}) == 4
    assert [e["best_so_far"] for e in entries] == pytest.approx(
        [min(losses[: i + 1]) for i in range(4)]
    )


def test_mid_epoch_saves_and_resume_in_a_custom_loop(tmp_path):
    """A hand-written loop, no compile(): steps are counted by the callback."""
    x, y = make_data(32)
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]

    def run(model, checkpoint, epochs, first_epoch=0, skip=0, stop_after=None):
        step = tape_step(model, apply_with(keras.optimizers.SGD(0.01), model),
                         lambda y, outputs: keras.ops.mean((outputs - y) ** 2))
        callbacks = keras.callbacks.CallbackList([checkpoint], model=model)
        callbacks.on_train_begin()
        for epoch in range(first_epoch, epochs):
            callbacks.on_epoch_begin(epoch)
            for index, (xb, yb) in enumerate(batches[skip:]):
                callbacks.on_train_batch_begin(index)
                loss = step(xb, yb)
                callbacks.on_train_batch_end(index, {"loss": float(loss)})
                if stop_after == (epoch, index):
                    checkpoint.wait()
                    return  # "Killed": no epoch end, no train end.
            skip = 0
            callbacks.on_epoch_end(epoch, {"loss": float(loss)})
        callbacks.on_train_end()

    model = make_model(compile=False)
    checkpoint = Checkpoint(tmp_path, monitor="loss", save_freq=2, keep_last=20)
    run(model, checkpoint, epochs=2, stop_after=(1, 1))
    entries = assert_valid(tmp_path)["checkpoints"]
    assert [position(e) for e in entries] == [
        (0, 2, False, 2), (0, 4, False, 4), (0, 4, True, 4), (1, 2, False, 6),
    ]
    saved = weights_of(model)

    resumed_model = make_model(seed=1, compile=False)
    resumed = Checkpoint(tmp_path, monitor="loss", save_freq=2, keep_last=20)
    state = resumed.restore(resumed_model)
    assert (state.initial_epoch, state.batches_consumed, state.global_step) == (1, 2, 6)
    for a, b in zip(saved, weights_of(resumed_model)):
        np.testing.assert_array_equal(a, b)
    run(resumed_model, resumed, epochs=2, first_epoch=1, skip=2)
    entries = assert_valid(tmp_path)["checkpoints"]
    assert [position(e) for e in entries[4:]] == [
        (1, 4, False, 8), (1, 4, True, 8),
    ]


def test_mirrored_strategy_has_one_writer(tmp_path):
    strategy = mirrored_strategy()
    with strategy.scope():
        model = make_model()
    checkpoint = Checkpoint(tmp_path, monitor="loss", save_top_k=5)
    model.fit(*make_data(), batch_size=8, epochs=2, verbose=0, callbacks=[checkpoint])
    manifest = assert_valid(tmp_path, load=True)
    assert [e["epoch"] for e in manifest["checkpoints"]] == [0, 1]
    assert len(os.listdir(tmp_path)) == 4  # With manifest.json, pending.json.
    with strategy.scope():
        fresh = make_model(seed=1)
    state = Checkpoint(tmp_path).restore(fresh)
    iterations = keras.ops.convert_to_numpy(fresh.optimizer.iterations)
    assert state.global_step == iterations == 8
    for a, b in zip(weights_of(model), weights_of(fresh)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    def build(hp):
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(hp.Choice("units", [2, 3]))]
        )
        model.compile(optimizer="adam", loss="mse")
        return model

    x, y = make_data()
    tuner_search(
        tmp_path / "tuner", build, x, y,
        Checkpoint(tmp_path / "ckpt", save_top_k=5),
        objective="val_loss", validation_split=0.25,
    )
    manifest = assert_valid(tmp_path / "ckpt", load=True)
    assert [e["seq"] for e in manifest["checkpoints"]] == [1, 2]
    assert len({e["file"] for e in manifest["checkpoints"]}) == 2


CRASH_SCRIPT = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()
keras.utils.set_random_seed(0)
from keras_tb_toolkit.callbacks import Checkpoint

directory, out = sys.argv[1:3]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6)).astype("float32")
y = x @ rng.normal(size=(6, 1)).astype("float32")
model = keras.Sequential(
    [keras.Input((6,)), keras.layers.Dense(8, "relu"), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
checkpoint = Checkpoint(directory, save_top_k=2, save_freq=3)
state = checkpoint.restore(model)
first, skip = (state.initial_epoch, state.batches_consumed) if state else (0, 0)
print("RESUMED", first, skip, flush=True)
for epoch in range(first, 3):
    order = np.random.default_rng(100 + epoch).permutation(64)[skip * 8:]
    # A mid-epoch checkpoint: this epoch's first `skip` batches are done.
    model.fit(
        x[order], y[order], batch_size=8, epochs=epoch + 1, initial_epoch=epoch,
        shuffle=False, validation_data=(x[:16], y[:16]), verbose=0,
        callbacks=[checkpoint],
    )
    print("EPOCH", epoch, flush=True)
    skip = 0
np.save(out, np.concatenate([w.ravel() for w in model.get_weights()]))
print("DONE", flush=True)
'''


def start(tmp_path, name, directory, stage=None, kill_at=0):
    """Runs the training script; with `stage`, it SIGKILLs itself the
    `kill_at`-th time a save reaches that stage (see `save_stages`)."""
    script = tmp_path / "crash_script.py"
    script.write_text(CRASH_SCRIPT)
    log = tmp_path / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(script)]
    if stage is not None:
        command = [sys.executable, save_stages.__file__, stage, str(kill_at),
                   str(script)]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, str(directory), str(tmp_path / f"{name}.npy")],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )
    return process, log


def killed(process, log, timeout=60):
    """Waits for the script to SIGKILL itself; returns its output."""
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        code = None
    text = log.read_text()
    assert code == -signal.SIGKILL and "KILLED" in text, text
    return text


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_at_any_moment_then_resume_matches_uninterrupted(tmp_path):
    directory = tmp_path / "ckpt"
    reference, reference_log = start(tmp_path, "reference", tmp_path / "reference")
    try:
        # 1. Killed with the new file complete but not yet renamed.
        process, log = start(tmp_path, "a", directory, "checkpoint_written", 2)
        killed(process, log)
        assert any(n.startswith(_atomic_io.TEMP_PREFIX) for n in os.listdir(directory))
        manifest = assert_valid(directory, load=True)
        assert [e["seq"] for e in manifest["checkpoints"]] == [1]

        # 2. Killed with the new file in place but not in the manifest.
        process, log = start(tmp_path, "b", directory, "checkpoint_replaced", 2)
        text = killed(process, log)
        assert "RESUMED 0 3" in text
        orphan = os.path.basename(text.split("KILLED stage=checkpoint_replaced path=")[1].split()[0])
        named = {e["file"] for e in assert_valid(directory, load=True)["checkpoints"]}
        assert (directory / orphan).exists() and orphan not in named

        # 3. Killed with the new manifest in place, pruned files not deleted.
        process, log = start(tmp_path, "c", directory, "manifest_replaced", 3)
        text = killed(process, log)
        assert "RESUMED 0 6" in text
        assert_valid(directory, load=True)

        # 4. Runs to the end; no temporary or orphan file is left.
        process, log = start(tmp_path, "e", directory)
        assert process.wait(timeout=60) == 0, log.read_text()
        manifest = assert_valid(directory, load=True)
        assert sorted(os.listdir(directory)) == sorted(
            [e["file"] for e in manifest["checkpoints"]]
            + ["manifest.json", "pending.json"]
        )
        assert manifest["checkpoints"][-1]["global_step"] == 3 * 8
        assert reference.wait(timeout=60) == 0, reference_log.read_text()
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait(timeout=10)
    resumed = np.load(tmp_path / "e.npy")
    uninterrupted = np.load(tmp_path / "reference.npy")
    np.testing.assert_array_equal(resumed, uninterrupted)
