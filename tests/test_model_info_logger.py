import glob
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf
from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.graph import graphs_plugin

from callbacks.model_info_logger import ModelInfoLogger

# Two logical CPUs for MirroredStrategy; only possible before TensorFlow
# initializes its devices, so it may fail if another module ran first.
try:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )
except RuntimeError:
    pass

PARAM_TAGS = {
    "model/params/trainable",
    "model/params/non_trainable",
    "model/params/total",
}
ALL_TAGS = PARAM_TAGS | {"model/summary"}


def make_data(n=32):
    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8)).astype("float32")
    y = rng.integers(0, 3, size=n)
    return x, y


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


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flat = keras.layers.Flatten(name="flat")
        self.hidden = keras.layers.Dense(4, activation="relu", name="hidden")
        self.norm = keras.layers.BatchNormalization(name="norm")
        self.head = keras.layers.Dense(3, name="head")

    def call(self, inputs, training=False):
        x = self.hidden(self.flat(inputs))
        return self.head(self.norm(x, training=training))


BUILDERS = {
    "sequential": sequential,
    "sequential_lazy": lambda: sequential(with_input=False),
    "functional": functional,
    "subclassed": lambda: Subclassed(name="sub"),
}


def compiled(model):
    model.compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def read_train(log_dir):
    """(step, tag, value) of every summary and the GraphDefs in train/."""
    summaries, graphs = [], []
    files = sorted(glob.glob(os.path.join(log_dir, "train", "events.*")))
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(path):
            if event.graph_def:
                graphs.append(
                    tf.compat.v1.GraphDef.FromString(event.graph_def)
                )
            for value in event.summary.value:
                summaries.append(
                    (event.step, value.tag, tf.make_ndarray(value.tensor))
                )
    return summaries, graphs


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
    x, y = make_data()
    model = compiled(BUILDERS[style]())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[ModelInfoLogger(tmp_path)])
    assert_described(tmp_path, model)
    assert sorted(os.listdir(tmp_path)) == ["train"]


def test_graphs_plugin_serves_the_graph(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = make_data()
    model = compiled(Subclassed(name="sub"))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[ModelInfoLogger(tmp_path)])
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(
        multiplexer, str(tmp_path)
    )
    plugin = graphs_plugin.GraphsPlugin(
        base_plugin.TBContext(data_provider=provider, logdir=str(tmp_path))
    )
    ctx = context.RequestContext()
    assert plugin.info_impl(ctx, experiment="")["train"]["run_graph"]
    body, mime_type = plugin.graph_impl(ctx, "train", None, False, "")
    assert mime_type == "text/x-protobuf"
    assert "sub_1/hidden" in body or "sub/hidden" in body


def test_two_fits_describe_the_model_once(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = make_data()
    model = compiled(functional())
    logger = ModelInfoLogger(tmp_path)
    for _ in range(2):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert_described(tmp_path, model)


def test_a_second_model_is_described_at_the_next_step(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = make_data()
    logger = ModelInfoLogger(tmp_path)
    for _ in range(2):
        model = compiled(functional())
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert_described(tmp_path, model, steps=(0, 1))


def test_write_graph_false_writes_no_graph(tmp_path):
    x, y = make_data()
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
    assert len([r for r in w if "ModelInfoLogger" in str(r.message)]) == 1
    summaries, graphs = read_train(tmp_path)
    assert sorted(t for _, t, _ in summaries) == sorted(ALL_TAGS)
    assert graphs == []


def test_custom_loop_with_input_shape(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = make_data(16)
    model = Subclassed(name="sub")
    optimizer = keras.optimizers.SGD()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    logger = ModelInfoLogger(tmp_path, input_shape=(8, 8))
    callbacks = keras.callbacks.CallbackList([logger], model=model)
    callbacks.on_train_begin()
    assert not os.path.exists(tmp_path / "train")  # model not built yet
    for epoch in range(2):
        callbacks.on_epoch_begin(epoch)
        for batch in range(2):
            callbacks.on_train_batch_begin(batch)
            # Described at the start of the second batch, once built.
            assert (tmp_path / "train").exists() == ((epoch, batch) > (0, 0))
            xb, yb = x[batch * 8:(batch + 1) * 8], y[batch * 8:(batch + 1) * 8]
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            callbacks.on_train_batch_end(batch, {"loss": float(loss)})
        callbacks.on_epoch_end(epoch, {"loss": float(loss)})
    callbacks.on_train_end()
    assert_described(tmp_path, model)


def test_keras_tuner_search_describes_each_trial(tmp_path):
    x, y = make_data()

    def build(hp):
        model = keras.Sequential([
            keras.Input((8, 8)), keras.layers.Flatten(),
            keras.layers.Dense(hp.Int("units", 2, 16), name="hidden"),
            keras.layers.Dense(3, name="head"),
        ])
        return compiled(model)

    tuner = keras_tuner.RandomSearch(
        build, objective="loss", max_trials=2, directory=tmp_path / "search",
        project_name="p", seed=1,
    )
    tuner.search(x, y, epochs=1, verbose=0,
                 callbacks=[ModelInfoLogger(tmp_path / "run")])
    summaries, graphs = read_train(tmp_path / "run")
    # keras-tuner copies the callback per trial: each copy describes its model.
    trials = len(tuner.oracle.trials)
    assert trials == 2
    assert sorted((s, t) for s, t, _ in summaries) == sorted(
        [(0, t) for t in ALL_TAGS] * trials
    )
    assert len(graphs) == trials


@pytest.mark.skipif(
    len(tf.config.list_logical_devices("CPU")) < 2,
    reason="TensorFlow initialized its devices before two logical CPUs "
    "could be configured",
)
def test_mirrored_strategy_writes_once(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = make_data()
    # Collective all-reduce keys clash between strategies created in one
    # process (other test modules make theirs); reduce to one device instead.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"],
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )
    with strategy.scope():
        model = compiled(Subclassed(name="sub"))
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
