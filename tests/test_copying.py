"""One deep-copy scheme: a copy of a used callback (what KerasTuner makes for
each trial) has its configuration, not the model, writers or threads of the
run it served, and trains a new model into its own directory."""

import copy
import os

import pytest
from helpers import tiny_classifier

from keras_tb_toolkit.callbacks import (
    Checkpoint,
    ConfusionMatrixLogger,
    EmbeddingProjector,
    HistogramLogger,
    HistoryPlotter,
    ModelInfoLogger,
)
from keras_tb_toolkit.callbacks import _summary


def _callbacks(log_dir, x, y):
    return [
        HistogramLogger(log_dir, activations=False),
        ModelInfoLogger(log_dir),
        HistoryPlotter(log_dir, formats=None),
        ConfusionMatrixLogger(log_dir, (x, y)),
        EmbeddingProjector(log_dir, x, y, sample_size=8, sprite=False),
        Checkpoint(os.path.join(log_dir, "checkpoints"), monitor="loss"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_copy_of_a_used_callback_keeps_only_its_configuration(tmp_path, index):
    model, x, y = tiny_classifier()
    callback = _callbacks(str(tmp_path / "first"), x, y)[index]
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    clone = copy.deepcopy(callback)

    assert clone.model is None and callback.model is model
    for name, value in vars(clone).items():
        if isinstance(value, _summary.RunWriters):
            assert value._held == {}, name
    shared = type(callback)._SHARED
    for name in shared:
        assert getattr(clone, name) is getattr(callback, name)

    # The copy serves a new trial with a new model, and writes.
    before = _files(tmp_path)
    other, x, y = tiny_classifier()
    other.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[clone])
    assert clone.model is other
    assert _files(tmp_path) != before


def _files(directory):
    """{path: (size, mtime)} of every file below `directory`."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            status = os.stat(os.path.join(root, name))
            found[os.path.join(root, name)] = (status.st_size, status.st_mtime_ns)
    return found
