"""Tests for `callbacks.model_info_logger.ModelInfoLogger`."""

import math
import os

import keras
import numpy as np
import pytest
from events import graph_defs, plugin_context, summary_rows
from helpers import (
    DenseClassifier,
    apply_with,
    image_data,
    image_search_build,
    mirrored_strategy,
    own_warnings,
    tape_step,
    train_with_callback_list,
    tuner_search,
)
from tensorboard import context
from tensorboard.plugins.graph import graphs_plugin

from keras_tb_toolkit.callbacks import ModelInfoLogger

PARAM_TAGS = {
    "model/params/trainable",
    "model/params/non_trainable",
    "model/params/total",
}
ALL_TAGS = PARAM_TAGS | {"model/summary"}


def sequential(with_input=True):
    layers = [
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(4, activation="relu", name="hidden"),
        keras.layers.BatchNormalization(name="norm"),
        keras.layers.Dense(3, name="head"),
    ]
    if with_input:
        layers.insert(0, keras.Input((8, 8)))
    return keras.Sequential(layers, name="seq")


def functional():
    inputs = keras.Input((8, 8), name="pixels")
    x = keras.layers.Flatten(name="flat")(inputs)
    x = keras.layers.Dense(4, activation="relu", name="hidden")(x)
    x = keras.layers.BatchNormalization(name="norm")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name="fun")


def subclassed():
    return DenseClassifier(units=4, norm=True, name="sub")


BUILDERS = {
    "sequential": sequential,
    "sequential_lazy": lambda: sequential(with_input=False),
    "functional": functional,
    "subclassed": subclassed,
}


def compiled(model):
    model.compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def read_train(log_dir):
    """(step, tag, value) of every summary and the GraphDefs in train/."""
    train = os.path.join(log_dir, "train")
    summaries = [(step, tag, value)
                 for _, tag, step, value in summary_rows(train)]
    return summaries, graph_defs(train)


def assert_described(log_dir, model, steps=(0,)):
    summaries, graphs = read_train(log_dir)
    assert sorted((s, t) for s, t, _ in summaries) == sorted(
        (s, t) for s in steps for t in ALL_TAGS
    )
    values = {t: v for _, t, v in summaries}
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(
        math.prod(w.shape) for w in model.non_trainable_weights
    )
    assert non_trainable == 8  # BatchNormalization's moving statistics
    assert values["model/params/trainable"] == trainable
    assert values["model/params/non_trainable"] == non_trainable
    assert values["model/params/total"] == trainable + non_trainable
    text = values["model/summary"].item().decode()
    assert all(line.startswith("    ") for line in text.splitlines())
    for layer in ("hidden", "norm", "head"):
        assert layer in text
    assert len(graphs) == len(steps)
    for graph in graphs:
        names = [node.name for node in graph.node]
        for layer in ("hidden", "head"):
            assert any(f"/{layer}" in name for name in names), names
    return graphs


@pytest.mark.parametrize("style", sorted(BUILDERS))
def test_fit_writes_summary_params_and_graph_for_every_style(tmp_path, style):
    keras.utils.set_random_seed(0)
    x, y = image_data(32)
    model = compiled(BUILDERS[style]())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[ModelInfoLogger(tmp_path)])
    assert_described(tmp_path, model)
    assert sorted(os.listdir(tmp_path)) == ["train"]


def test_graphs_plugin_serves_the_graph(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(32)
    model = compiled(subclassed())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[ModelInfoLogger(tmp_path)])
    plugin = graphs_plugin.GraphsPlugin(plugin_context(tmp_path))
    ctx = context.RequestContext()
    assert plugin.info_impl(ctx, experiment="")["train"]["run_graph"]
    body, mime_type = plugin.graph_impl(ctx, "train", None, False, "")
    assert mime_type == "text/x-protobuf"
    assert "sub_1/hidden" in body or "sub/hidden" in body


def test_two_fits_describe_the_model_once(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(32)
    model = compiled(functional())
    logger = ModelInfoLogger(tmp_path)
    for _ in range(2):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert_described(tmp_path, model)


def test_a_second_model_is_described_at_the_next_step(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(32)
    logger = ModelInfoLogger(tmp_path)
    for _ in range(2):
        model = compiled(functional())
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert_described(tmp_path, model, steps=(0, 1))


def test_write_graph_false_writes_no_graph(tmp_path):
    x, y = image_data(32)
    compiled(sequential()).fit(
        x, y, epochs=1, verbose=0,
        callbacks=[ModelInfoLogger(tmp_path, write_graph=False)],
    )
    summaries, graphs = read_train(tmp_path)
    assert {t for _, t, _ in summaries} == ALL_TAGS
    assert graphs == []


class TwoInputs(keras.Model):
    def __init__(self):
        super().__init__(name="two")
        self.hidden = keras.layers.Dense(2, name="hidden")

    def call(self, inputs):
        return self.hidden(keras.ops.concatenate(inputs, axis=-1))


def test_unknown_input_shape_warns_once_and_writes_the_rest(tmp_path):
    x = np.ones((8, 3), "float32")
    model = TwoInputs()
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="cannot tell the input shape") as w:
        model.fit((x, x), np.ones((8, 2)), batch_size=4, epochs=2, verbose=0,
                  callbacks=[ModelInfoLogger(tmp_path)])
    assert len(own_warnings(w, "ModelInfoLogger")) == 1
    summaries, graphs = read_train(tmp_path)
    assert sorted(t for _, t, _ in summaries) == sorted(ALL_TAGS)
    assert graphs == []


class TrainDirProbe(keras.callbacks.Callback):
    """Checks, right after the logger, when it creates `<log_dir>/train`."""

    def __init__(self, log_dir):
        super().__init__()
        self.train_dir, self.epoch, self.batches = log_dir / "train", None, 0

    def on_train_begin(self, logs=None):
        assert not os.path.exists(self.train_dir)  # model not built yet

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        # Described at the start of the second batch, once built.
        assert self.train_dir.exists() == ((self.epoch, batch) > (0, 0))
        self.batches += 1


def test_custom_loop_with_input_shape(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(16)
    model = subclassed()
    logger = ModelInfoLogger(tmp_path, input_shape=(8, 8))
    probe = TrainDirProbe(tmp_path)
    step = tape_step(model, apply_with(keras.optimizers.SGD(), model))
    train_with_callback_list(model, [logger, probe], x, y, step)
    assert probe.batches == 4
    assert_described(tmp_path, model)


@pytest.mark.slow
def test_keras_tuner_search_describes_each_trial(tmp_path):
    x, y = image_data(32)
    tuner = tuner_search(tmp_path / "search", image_search_build(compiled),
                         x, y, ModelInfoLogger(tmp_path / "run"))
    summaries, graphs = read_train(tmp_path / "run")
    # keras-tuner copies the callback per trial: each copy describes its model.
    trials = len(tuner.oracle.trials)
    assert trials == 2
    assert sorted((s, t) for s, t, _ in summaries) == sorted(
        [(0, t) for t in ALL_TAGS] * trials
    )
    assert len(graphs) == trials


def test_mirrored_strategy_writes_once(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(32)
    with mirrored_strategy().scope():
        model = compiled(subclassed())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[ModelInfoLogger(tmp_path)])
    assert_described(tmp_path, model)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
        ({"input_shape": (8, 0)}, ValueError,
         r"`input_shape` must be None or .*received: \(8, 0\)"),
        ({"input_shape": 8}, ValueError, "`input_shape` .*received: 8"),
        ({"write_graph": "yes"}, TypeError,
         "`write_graph` must be True or False, received: 'yes'"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, error, match):
    kwargs = {"log_dir": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        ModelInfoLogger(**kwargs)
    assert os.listdir(tmp_path) == []
