"""Live TensorBoard: one shared events file per run directory, on disk after
every epoch, and written only by the process the strategy names chief."""

import glob
import os
import numpy as np
import pytest

import keras
import tensorflow as tf
from events import scalars, summary_rows
from helpers import mirrored_strategy, not_chief, tiny_classifier

from keras_tb_toolkit.callbacks import (
    Checkpoint,
    ConfusionMatrixLogger,
    HistogramLogger,
    HistoryPlotter,
    ModelInfoLogger,
)
from keras_tb_toolkit.callbacks import _summary


def _event_files(directory):
    return sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))


class _OnDiskAtEpochEnd(keras.callbacks.Callback):
    """Placed after the callbacks under test: reads `train/` back from disk
    at each epoch end, as a TensorBoard watching the run would."""

    def __init__(self, run_dir):
        super().__init__()
        self.train_dir = os.path.join(run_dir, "train")
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        rows = summary_rows(self.train_dir)
        self.seen.append((
            epoch,
            len(_event_files(self.train_dir)),
            {step for _, tag, step, _ in rows if tag.startswith("weights/")},
            {tag for _, tag, _, _ in rows if tag.startswith("model/params/")},
        ))


def test_two_callbacks_share_one_events_file_flushed_every_epoch(tmp_path):
    model, x, y = tiny_classifier()
    probe = _OnDiskAtEpochEnd(tmp_path)
    callbacks = [
        HistogramLogger(tmp_path, activations=False),
        ModelInfoLogger(tmp_path, write_graph=False),
        probe,
    ]
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks)

    params = {"model/params/trainable", "model/params/non_trainable",
              "model/params/total"}
    # Before training ends, each epoch's histograms are already on disk, in
    # the one events file both callbacks write.
    assert probe.seen == [
        (0, 1, {0}, params),
        (1, 1, {0, 1}, params),
        (2, 1, {0, 1, 2}, params),
    ]
    assert len(_event_files(tmp_path / "train")) == 1
    assert _summary.SHARED_WRITERS.holders(str(tmp_path / "train")) == 0


def test_figure_callbacks_flush_each_epoch_into_the_shared_file(tmp_path):
    model, x, y = tiny_classifier()
    plotter = HistoryPlotter(tmp_path, formats=None)
    confusion = ConfusionMatrixLogger(tmp_path, (x, y))
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            # The figures are drawn off the training thread: wait for them.
            plotter._worker.report_failures(wait=True)
            confusion._worker.report_failures(wait=True)
            seen.append((
                sorted({s for _, t, s, _ in summary_rows(tmp_path / "train")
                        if t == "history"}),
                sorted({s for _, t, s, _ in summary_rows(tmp_path / "validation")
                        if t == "confusion_matrix"}),
            ))

    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[HistogramLogger(tmp_path, activations=False),
                         plotter, confusion, Probe()])
    assert seen == [([0], [0]), ([0, 1], [0, 1])]
    assert len(_event_files(tmp_path / "train")) == 1
    assert len(_event_files(tmp_path / "validation")) == 1


def test_writers_are_shared_by_directory_and_closed_by_the_last_holder(tmp_path):
    first = _summary.RunWriters(str(tmp_path))
    second = _summary.RunWriters(str(tmp_path / "train" / ".." / ""))
    writer = first.writer("train")
    assert second.writer("train") is writer
    assert _summary.SHARED_WRITERS.holders(str(tmp_path / "train")) == 2
    first.close()
    with writer.as_default():  # Still open for the other holder.
        tf.summary.scalar("x", 1.0, step=0)
    second.flush()
    assert scalars(tmp_path / "train") == {"x": [(0, 1.0)]}
    second.close()
    assert _summary.SHARED_WRITERS.holders(str(tmp_path / "train")) == 0
    # The next use reopens it, so one instance serves several fits.
    with first.writer("train").as_default():
        tf.summary.scalar("x", 2.0, step=1)
    first.close()
    assert scalars(tmp_path / "train") == {"x": [(0, 1.0), (1, 2.0)]}


def test_one_instance_serves_two_fits(tmp_path):
    model, x, y = tiny_classifier()
    logger = HistogramLogger(tmp_path, activations=False)
    for _ in range(2):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[logger])
    steps = [s for _, tag, s, _ in summary_rows(tmp_path / "train")
             if tag.startswith("weights/") and tag.endswith("kernel")]
    assert steps == [0, 0]  # One per fit, each on disk after it.


def test_single_process_strategies_are_chief():
    assert _summary.is_chief() and _summary.should_checkpoint()
    strategy = mirrored_strategy()
    model, _, _ = tiny_classifier()
    with strategy.scope():
        assert _summary.is_chief() and _summary.should_checkpoint()
        assert _summary.is_chief(model) and _summary.should_checkpoint(model)


def test_a_worker_that_is_not_chief_writes_nothing(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    assert not _summary.is_chief() and not _summary.should_checkpoint()
    model, x, y = tiny_classifier()
    callbacks = [
        HistogramLogger(tmp_path, activations=False),
        ModelInfoLogger(tmp_path),
        HistoryPlotter(tmp_path),
        ConfusionMatrixLogger(tmp_path, (x, y)),
        Checkpoint(tmp_path / "checkpoints", monitor="loss"),
    ]
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks)
    assert os.listdir(tmp_path) == []


def test_writers_on_a_remote_file_system_are_shared_by_path():
    # `gs://` and `ram://` paths are keys as written, not local paths.
    first = _summary.RunWriters("ram://shared-writers/run")
    second = _summary.RunWriters("ram://shared-writers/run/")
    assert first.writer("train") is second.writer("train")
    with first.writer("train").as_default():
        tf.summary.scalar("x", 1.0, step=0)
    first.close()
    second.close()
    files = tf.io.gfile.glob("ram://shared-writers/run/train/events.out.*")
    assert len(files) == 1


def test_an_events_file_the_disk_refuses_stops_training_with_one_error(tmp_path, monkeypatch):
    from keras_tb_toolkit.callbacks import LogDirError, ScalarLogger

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ScalarLogger(tmp_path)])
    written = sorted(os.listdir(tmp_path / "train"))
    writer_type = type(tf.summary.create_file_writer(str(tmp_path / "probe")))

    def disk_full(self):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(writer_type, "flush", disk_full)
    with pytest.raises(LogDirError) as raised:
        model.fit(x, y, epochs=2, initial_epoch=1, verbose=0,
                  callbacks=[ScalarLogger(tmp_path)])
    message = str(raised.value)
    assert message.startswith("could not write TensorBoard events into ")
    assert "No space left on device. What was flushed before is intact" in message
    assert "\n" not in message
    monkeypatch.undo()
    assert set(written) <= set(os.listdir(tmp_path / "train"))
