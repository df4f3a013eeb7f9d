"""Tests for `BatchProfiler`: a trace of exactly the batches asked for."""

import glob
import os
import socket

import keras
import numpy as np
import pytest

from keras_tb_toolkit.callbacks import BatchProfiler

from helpers import DenseClassifier, image_data, train_with_callback_list


def _xplanes(log_dir):
    return glob.glob(os.path.join(log_dir, "train", "plugins", "profile", "*", "*.xplane.pb"))


def _step_runs(path):
    """How many training steps a trace holds: runs of the traced step function."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(path, "rb") as handle:
        space.ParseFromString(handle.read())
    (host,) = [plane for plane in space.planes if plane.name == "/host:CPU"]
    names = {key: meta.name for key, meta in host.event_metadata.items()}
    return sum(
        1 for line in host.lines for event in line.events
        if names.get(event.metadata_id, "").endswith("step_on_iterator")
        and not names[event.metadata_id].startswith("EagerLocalExecute")
    )


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model, np.ones((64, 4), "float32"), np.ones((64, 2), "float32")


def test_fit_traces_batches_start_to_stop_across_epochs(tmp_path):
    model, x, y = _model()
    # 4 batches an epoch: batches 3 to 6 span the two epochs.
    model.fit(x, y, batch_size=16, epochs=2, verbose=0,
              callbacks=[BatchProfiler(tmp_path, batches=(3, 6))])
    (trace,) = _xplanes(tmp_path)
    assert os.path.basename(trace) == f"{socket.gethostname()}.xplane.pb"
    assert _step_runs(trace) == 4


def test_a_fit_shorter_than_stop_still_leaves_its_trace_and_a_second_fit_its_own(tmp_path):
    model, x, y = _model()
    profiler = BatchProfiler(tmp_path, batches=(2, 100))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[profiler])
    assert len(_xplanes(tmp_path)) == 1
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[profiler])
    traces = _xplanes(tmp_path)
    # The dashboard names runs by the second: two fits in one second share one.
    assert len(traces) in (1, 2)
    assert all(_step_runs(trace) == 3 for trace in traces)


def test_gradient_tape_loop_through_callback_list(tmp_path):
    model = DenseClassifier()
    model.compile(keras.optimizers.SGD(0.1))
    x, y = image_data(32)
    model(x[:1])
    train_with_callback_list(model, [BatchProfiler(tmp_path, batches=2)], x, y)
    assert len(_xplanes(tmp_path)) == 1


@pytest.mark.parametrize("batches", [0, (3, 2), (1,), "2,4", (1.5, 2), True, None])
def test_bad_batches(batches):
    with pytest.raises(ValueError, match=r"`batches` must be a batch number >= 1 or a pair "
                                         r"\(start, stop\) with 1 <= start <= stop, received: "):
        BatchProfiler("logs", batches=batches)
