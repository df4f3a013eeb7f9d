"""The callbacks on a file system reached through `tf.io.gfile`.

TensorFlow's in-memory `ram://` file system stands for `gs://`, `s3://` and
`hdfs://`: every URL path goes through the same gfile calls. It is global to
the process, so each test writes under a fresh `ram://<uuid>/` and removes
it. Everything is asserted from the outside: events read back, files
listed and decoded, checkpoints loaded into a fresh model.
"""

import collections
import json
import os
import re
import tempfile
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from helpers import conv_classifier
from tensorboard.plugins.projector import ProjectorConfig

from keras_tb_toolkit import callbacks
from keras_tb_toolkit.callbacks import _atomic_io
from keras_tb_toolkit.callbacks import _fs
from keras_tb_toolkit.callbacks import Checkpoint
from keras_tb_toolkit.callbacks import CheckpointCorruptError
from keras_tb_toolkit.callbacks import CheckpointWriteError

pytestmark = pytest.mark.timeout(60)
EPOCH_TAGS = {"epoch_loss", "epoch_accuracy"}


@pytest.fixture
def root():
    """A fresh `ram://` directory, removed afterwards."""
    top = f"ram://{uuid.uuid4().hex}"
    yield top + "/run"
    if tf.io.gfile.exists(top):
        tf.io.gfile.rmtree(top)


@pytest.fixture
def no_local_temp_left(tmp_path, monkeypatch):
    """Fails a test that leaves a checkpoint's local temporary file behind
    (in a temporary directory of its own, which no other process uses)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield
    assert not [n for n in os.listdir(tmp_path) if n.startswith(_atomic_io.TEMP_PREFIX)]


def summaries(run_dir):
    """{(run, tag): [(step, value), ...]} of every events file below `run_dir`."""
    rows = collections.defaultdict(list)
    for directory, _, files in tf.io.gfile.walk(run_dir):
        run = directory[len(run_dir):].strip("/") or "."
        for name in sorted(files):
            if not name.startswith("events.out.tfevents."):
                continue
            for event in tf.compat.v1.train.summary_iterator(f"{directory}/{name}"):
                for value in event.summary.value:
                    rows[(run, value.tag)].append(
                        (event.step, tf.make_ndarray(value.tensor)))
    return dict(rows)


def names(directory):
    return sorted(n.rstrip("/") for n in tf.io.gfile.listdir(directory))


def test_every_callback_writes_its_dashboards_and_files_there(root):
    model, x, y = conv_classifier()
    history = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=4,
                        verbose=0, callbacks=[
        callbacks.ScalarLogger(root),
        callbacks.HistoryPlotter(root, formats=("png", "svg")),
        callbacks.ConfusionMatrixLogger(root, (x, y)),
        callbacks.PRCurveLogger(root, (x, y)),
        callbacks.MistakesLogger(root, (x, y), num_mistakes=2),
        callbacks.GradCAMLogger(root, x[:2]),
        callbacks.HistogramLogger(root, activations=False),
        callbacks.ModelInfoLogger(root),
        callbacks.LayoutWriter(root),
        callbacks.EmbeddingProjector(root, x, y, sample_size=8, freq=1),
        callbacks.BatchProfiler(root, batches=(2, 3)),
    ]).history
    written = summaries(root)
    per_epoch = {
        ("train", tag) for tag in EPOCH_TAGS | {
            "epoch_learning_rate", "epoch_steps_per_second", "grad_cam",
            "gradient_norm", "history", "custom_scalars__config__",
            "update_ratio/conv", "update_ratio/dense",
            *(f"{kind}/{layer}/{var}" for kind in ("weights", "gradients")
              for layer in ("conv", "dense") for var in ("kernel", "bias")),
        }
    } | {
        ("validation", tag) for tag in EPOCH_TAGS | {
            "confusion_matrix", "mistakes", "mistakes_table",
            *(f"{kind}/{c}" for kind in ("precision", "recall") for c in range(3)),
            *(f"pr_curve/{c}/pr_curves" for c in range(3)),
        }
    }
    once = {("train", f"model/params/{p}")
            for p in ("total", "trainable", "non_trainable")}
    once.add(("train", "model/summary"))
    assert set(written) == per_epoch | once
    assert all([s for s, _ in written[key]] == [0, 1] for key in per_epoch)
    assert all([s for s, _ in written[key]] == [0] for key in once)
    for run, prefix in (("train", ""), ("validation", "val_")):
        for tag in EPOCH_TAGS:
            logged = [float(v) for _, v in written[(run, tag)]]
            np.testing.assert_allclose(logged, history[prefix + tag.removeprefix("epoch_")],
                                       rtol=1e-6)
    assert float(written[("train", "model/params/total")][0][1]) == model.count_params()

    assert names(f"{root}/plots") == ["history.png", "history.svg"]
    png = tf.io.decode_png(tf.io.gfile.GFile(f"{root}/plots/history.png", "rb").read())
    assert png.shape[2] == 4 and png.shape[0] > 100
    assert b"<svg" in tf.io.gfile.GFile(f"{root}/plots/history.svg", "rb").read()

    train = f"{root}/train"
    assert {"checkpoint", "embeddings.index", "embeddings.data-00000-of-00001",
            "projector_config.pbtxt", "metadata.tsv", "sprite.png"} <= set(names(train))
    config = text_format.Parse(
        tf.io.gfile.GFile(f"{train}/projector_config.pbtxt").read(), ProjectorConfig())
    (embedding,) = config.embeddings
    assert (embedding.metadata_path, embedding.sprite.image_path) == (
        "metadata.tsv", "sprite.png")
    header, *rows = tf.io.gfile.GFile(f"{train}/metadata.tsv").read().splitlines()
    assert header == "Index\tLabel" and len(rows) == 8
    assert all(int(label) == y[int(index)]
               for index, label in (row.split("\t") for row in rows))
    assert tf.train.latest_checkpoint(train) == f"{train}/embeddings"
    assert tf.train.load_checkpoint(train).get_tensor(
        embedding.tensor_name).shape[0] == 8
    assert tf.io.gfile.glob(f"{train}/plugins/profile/*/*.xplane.pb")
    everything = [n for d, _, files in tf.io.gfile.walk(root) for n in files]
    assert not [n for n in everything if n.startswith(".ktb-")]  # No probe, no temp.


def fit_with(checkpoint, epochs, initial_epoch=0, seed_model=None):
    """Fits `conv_classifier` for `epochs` under `checkpoint`; returns the
    model and the weights it held at each epoch end, by epoch."""
    model, x, y = seed_model or conv_classifier()
    snapshots = {}
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.update(
        {epoch: [w.numpy().copy() for w in model.weights]}))
    model.fit(x, y, validation_data=(x, y), epochs=epochs, batch_size=8,
              initial_epoch=initial_epoch, verbose=0, callbacks=[keep, checkpoint])
    return model, snapshots


def assert_weights(model, expected):
    for got, want in zip(model.weights, expected, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)


def listed(directory):
    (manifest,) = [n for n in names(directory) if n.startswith("manifest.")]
    document = json.loads(tf.io.gfile.GFile(f"{directory}/{manifest}", "rb").read())
    return manifest, [e["file"] for e in document["checkpoints"]]


def test_checkpoints_round_trip_and_resume(root, no_local_temp_left):
    directory = f"{root}/checkpoints"
    trained, snapshots = fit_with(Checkpoint(directory, save_top_k=0, keep_last=1), 2)
    manifest, files = listed(directory)
    # One generation is left (the first, pruned once the second verified),
    # and the one checkpoint it lists; epoch 1's was pruned after it.
    assert manifest == "manifest.000002.json"
    assert names(directory) == sorted([manifest, "pending.json", *files])
    assert len(files) == 1 and files[0].startswith("epoch=0002-step=000004")

    fresh, _, _ = conv_classifier()
    state = Checkpoint(directory).restore(fresh)
    assert (state.initial_epoch, state.batches_consumed, state.global_step) == (2, 0, 4)
    assert state.path == f"{directory}/{files[0]}"
    assert_weights(fresh, snapshots[1])
    assert fresh.optimizer.iterations.numpy() == 4

    resumed = Checkpoint(directory, save_top_k=0, keep_last=1)
    model, x, y = conv_classifier()
    state = resumed.restore(model)
    _, more = fit_with(resumed, 3, state.initial_epoch, (model, x, y))
    assert sorted(more) == [2]
    manifest, files = listed(directory)
    assert manifest == "manifest.000003.json"
    assert len(files) == 1 and files[0].startswith("epoch=0003-step=000006")
    again, _, _ = conv_classifier()
    Checkpoint(directory).restore(again)
    assert_weights(again, more[2])


def test_truncated_checkpoint_is_skipped_and_the_older_one_loads(root, no_local_temp_left):
    directory = f"{root}/checkpoints"
    _, snapshots = fit_with(Checkpoint(directory, save_top_k=0, keep_last=2), 2)
    _, (older, newest) = listed(directory)
    data = tf.io.gfile.GFile(f"{directory}/{newest}", "rb").read()
    with tf.io.gfile.GFile(f"{directory}/{newest}", "wb") as f:
        f.write(data[: len(data) // 2])  # An upload cut short.
    fresh, _, _ = conv_classifier()
    with pytest.warns(UserWarning, match=(
        rf"skipped 1 newer checkpoint\(s\) in {re.escape(repr(directory))} "
        rf"\({re.escape(newest)}: size \d+ bytes, manifest says {len(data)}\); "
        rf"restored {re.escape(repr(older))} instead")):
        state = Checkpoint(directory).restore(fresh)
    assert state.initial_epoch == 1
    assert_weights(fresh, snapshots[0])


def test_a_torn_newest_manifest_generation_is_ignored(root, no_local_temp_left):
    directory = f"{root}/checkpoints"
    _, snapshots = fit_with(Checkpoint(directory, save_top_k=0, keep_last=2), 2)
    manifest, files = listed(directory)
    raw = tf.io.gfile.GFile(f"{directory}/{manifest}", "rb").read()
    document = json.loads(raw)
    # A generation cut short, and a whole one that its checksum refutes
    # (it would make epoch 1's checkpoint the newest).
    with tf.io.gfile.GFile(f"{directory}/manifest.000003.json", "wb") as f:
        f.write(raw[: len(raw) // 2])
    document["checkpoints"] = document["checkpoints"][:1]
    with tf.io.gfile.GFile(f"{directory}/manifest.000004.json", "wb") as f:
        f.write(json.dumps(document).encode())

    fresh, _, _ = conv_classifier()
    state = Checkpoint(directory).restore(fresh)
    assert (state.initial_epoch, state.path) == (2, f"{directory}/{files[-1]}")
    assert_weights(fresh, snapshots[1])

    # The next save writes above every generation there, torn ones too,
    # and prunes them all once its own verified.
    resumed = Checkpoint(directory, save_top_k=0, keep_last=2)
    model, x, y = conv_classifier()
    fit_with(resumed, 3, resumed.restore(model).initial_epoch, (model, x, y))
    manifest, files = listed(directory)
    assert manifest == "manifest.000005.json"
    assert [f[:10] for f in files] == ["epoch=0002", "epoch=0003"]


def test_an_upload_read_back_wrong_fails_and_the_next_start_removes_it(
        root, monkeypatch, no_local_temp_left):
    directory = f"{root}/checkpoints"
    model, x, y = conv_classifier()
    _, snapshots = fit_with(Checkpoint(directory), 1, seed_model=(model, x, y))
    manifest, files = listed(directory)
    open_file = _fs.open_file

    def cut_short(path, mode="rb"):  # A store that keeps half of an upload.
        f = open_file(path, mode)
        if mode == "wb" and path.endswith(".keras"):
            write = f.write
            f.write = lambda data: write(data[: len(data) // 2])
        return f

    with monkeypatch.context() as patch:
        patch.setattr(_fs, "open_file", cut_short)
        with pytest.raises(CheckpointWriteError, match=(
            r"Could not write checkpoint 'epoch=0002-.*\.keras' .*read back \d+ "
            r"bytes that do not match the \d+ written \(sha256\).* The 1 "
            r"checkpoint\(s\) named in its newest verified manifest\.<n>\.json "
            r"are intact\.")):
            fit_with(Checkpoint(directory), 2, 1, (model, x, y))
    (torn,) = set(names(directory)) - {manifest, "pending.json", *files}
    assert listed(directory) == (manifest, files)

    fresh, _, _ = conv_classifier()
    resumed = Checkpoint(directory)
    assert resumed.restore(fresh).initial_epoch == 1
    assert_weights(fresh, snapshots[0])
    fit_with(resumed, 2, 1, (fresh, x, y))
    manifest, files = listed(directory)
    assert manifest == "manifest.000002.json" and len(files) == 2
    # pending.json named the torn upload as this callback's: deleted at
    # the start, so the new checkpoint could take its name.
    assert torn in files
    state = Checkpoint(directory).restore(conv_classifier()[0])
    assert state.path == f"{directory}/{torn}"


def test_a_lost_manifest_is_rebuilt_as_a_generation(root):
    directory = f"{root}/checkpoints"
    fit_with(Checkpoint(directory), 1)
    manifest, files = listed(directory)
    tf.io.gfile.remove(f"{directory}/{manifest}")
    with pytest.warns(UserWarning, match=re.escape(
            "had no valid manifest.<n>.json generation; rebuilt it")):
        state = Checkpoint(directory).restore(conv_classifier()[0])
    assert state.initial_epoch == 1
    assert listed(directory) == ("manifest.000001.json", files)


def test_no_generation_that_verifies_is_an_error_naming_each(root):
    directory = f"{root}/checkpoints"
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(f"{directory}/manifest.000001.json", "wb") as f:
        f.write(b'{"format": "keras-tb')
    with pytest.raises(CheckpointCorruptError, match=(
        r"no manifest generation verifies: manifest\.000001\.json: ")):
        Checkpoint(directory).restore(conv_classifier()[0])


def test_a_checkpoint_upload_never_overwrites_a_file(root, tmp_path):
    tf.io.gfile.makedirs(root)
    target = f"{root}/epoch=0001-step=000001.keras"
    with tf.io.gfile.GFile(target, "wb") as f:
        f.write(b"someone else's")
    local = tmp_path / "new.keras"
    local.write_bytes(b"ours")
    with pytest.raises(FileExistsError, match="exists, not overwritten"):
        _atomic_io.commit_file(str(local), target)
    assert tf.io.gfile.GFile(target, "rb").read() == b"someone else's"


@pytest.mark.parametrize("make", [
    lambda path: callbacks.ScalarLogger(path),
    lambda path: Checkpoint(path),
])
def test_a_scheme_tensorflow_lacks_is_one_line_naming_the_argument(make):
    with pytest.raises(ValueError, match=(
        r"^`(log_dir|directory)`: this TensorFlow has no file system for "
        r"nosuch://, received: 'nosuch://bucket/run'; it has .*ram://")) as info:
        make("nosuch://bucket/run")
    assert "\n" not in str(info.value)
