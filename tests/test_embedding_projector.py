"""Tests for `callbacks.embedding_projector.EmbeddingProjector`."""

import glob
import json
import math
import os
import re
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from events import plugin_context
from google.protobuf import text_format
from helpers import (
    DenseClassifier,
    apply_with,
    image_data,
    image_search_build,
    mirrored_strategy,
    tape_step,
    train_with_callback_list,
    tuner_search,
)
from tensorboard.plugins.projector import ProjectorConfig
from tensorboard.plugins.projector import projector_plugin
from werkzeug import test as werkzeug_test

from keras_tb_toolkit.callbacks import EmbeddingProjector

CHECKPOINT_FILES = {
    "checkpoint", "embeddings.index", "embeddings.data-00000-of-00001",
}
ASSETS = CHECKPOINT_FILES | {"projector_config.pbtxt", "metadata.tsv"}
CLASS_NAMES = ["zero", "one", "two"]


def sequential():
    return keras.Sequential([
        keras.Input((8, 8)),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(5, activation="relu", name="hidden"),
        keras.layers.Dropout(0.5, name="drop"),
        keras.layers.Dense(3, name="head"),
        keras.layers.Softmax(name="probs"),
    ], name="seq")


def functional():
    inputs = keras.Input((8, 8))
    x = keras.layers.Flatten(name="flat")(inputs)
    x = keras.layers.Dense(5, activation="relu", name="hidden")(x)
    x = keras.layers.Dense(4, activation="tanh", name="bottleneck")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def subclassed():
    return DenseClassifier(units=5, name="sub")


def compiled(model):
    ends_in_softmax = isinstance(model.layers[-1], keras.layers.Softmax)
    model.compile(
        keras.optimizers.SGD(0.1),
        keras.losses.SparseCategoricalCrossentropy(
            from_logits=not ends_in_softmax
        ),
    )
    return model


def projector_files(log_dir):
    train = os.path.join(log_dir, "train")
    return {f for f in os.listdir(train) if not f.startswith("events.")}


def read_config(log_dir):
    path = os.path.join(log_dir, "train", "projector_config.pbtxt")
    with open(path) as f:
        return text_format.Parse(f.read(), ProjectorConfig())


def read_embeddings(log_dir):
    (embedding,) = read_config(log_dir).embeddings
    train = os.path.join(str(log_dir), "train")
    checkpoint = tf.train.latest_checkpoint(train)
    assert checkpoint == os.path.join(train, "embeddings")
    return tf.train.load_variable(checkpoint, embedding.tensor_name)


def read_metadata(log_dir):
    with open(os.path.join(log_dir, "train", "metadata.tsv")) as f:
        return [line.split("\t") for line in f.read().splitlines()]


def sample_indices(log_dir):
    rows = read_metadata(log_dir)
    return np.array([int(row[0]) for row in rows[1:]])


def hidden_of(model, x):
    """What the `head` layer receives: the `hidden` layer's output."""
    return keras.ops.convert_to_numpy(model.hidden(model.flat(x)))


def test_sequential_images_default_layer_with_sprite(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    model = compiled(sequential())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
        EmbeddingProjector(tmp_path, x, labels=y, sample_size=10,
                           class_names=CLASS_NAMES),
    ])
    assert projector_files(tmp_path) == ASSETS | {"sprite.png"}
    assert len(glob.glob(str(tmp_path / "train" / "events.*"))) == 1
    (embedding,) = read_config(tmp_path).embeddings
    # The default is the input of the last layer with weights (`head`).
    assert embedding.tensor_name == "head_input/.ATTRIBUTES/VARIABLE_VALUE"
    assert embedding.metadata_path == "metadata.tsv"
    assert embedding.sprite.image_path == "sprite.png"
    assert list(embedding.sprite.single_image_dim) == [8, 8]

    rows = read_metadata(tmp_path)
    assert rows[0] == ["Index", "Label"]
    assert len(rows) == 10 + 1
    indices = sample_indices(tmp_path)
    assert len(set(indices)) == 10 and list(indices) == sorted(indices)
    assert [r[1] for r in rows[1:]] == [CLASS_NAMES[i] for i in y[indices]]

    sample = x[indices]
    expected = keras.ops.convert_to_numpy(
        model.get_layer("hidden")(model.get_layer("flat")(sample))
    )
    np.testing.assert_allclose(read_embeddings(tmp_path), expected, rtol=1e-5)

    sprite = tf.io.decode_png(
        tf.io.read_file(str(tmp_path / "train" / "sprite.png"))
    ).numpy()
    assert sprite.shape == (4 * 8, 4 * 8, 1)  # ceil(sqrt(10)) = 4 per side
    np.testing.assert_array_equal(
        sprite[8:16, 0:8, 0], np.round(sample[4] * 255).astype(np.uint8)
    )
    assert not sprite[24:, 16:].any()  # cells 14 and 15 stay empty


def _plugin_get(client, route, **params):
    response = client.get(route, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def test_projector_plugin_loads_the_run(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    model = compiled(sequential())
    run_dir = tmp_path / "run"
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[EmbeddingProjector(run_dir, x, y, sample_size=12)])
    for logdir in (run_dir, tmp_path):  # run dir or experiment dir
        plugin = projector_plugin.ProjectorPlugin(plugin_context(logdir))
        apps = plugin.get_plugin_apps()
        client = werkzeug_test.Client(lambda env, start: apps[
            env["PATH_INFO"]](env, start))
        run = os.path.relpath(run_dir / "train", logdir)
        assert run in json.loads(_plugin_get(client, "/runs"))
        config = json.loads(_plugin_get(client, "/info", run=run))
        (embedding,) = config["embeddings"]
        name = embedding["tensorName"]
        assert embedding["tensorShape"] == [12, 5]
        tensor = np.frombuffer(
            _plugin_get(client, "/tensor", run=run, name=name), np.float32
        ).reshape(12, 5)
        np.testing.assert_array_equal(tensor, read_embeddings(run_dir))
        metadata = _plugin_get(client, "/metadata", run=run, name=name)
        assert metadata.decode().splitlines()[0] == "Index\tLabel"
        sprite = _plugin_get(client, "/sprite_image", run=run, name=name)
        assert sprite.startswith(b"\x89PNG")


def test_functional_named_layer(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    model = compiled(functional())
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        EmbeddingProjector(tmp_path, x, layer="hidden", sample_size=7,
                           sprite=False),
    ])
    assert projector_files(tmp_path) == ASSETS
    (embedding,) = read_config(tmp_path).embeddings
    assert embedding.tensor_name == "hidden/.ATTRIBUTES/VARIABLE_VALUE"
    assert not embedding.HasField("sprite")
    # Without labels: one column, the index in `data`, and no header.
    rows = read_metadata(tmp_path)
    assert all(len(row) == 1 for row in rows) and len(rows) == 7
    sample = x[np.array([int(r[0]) for r in rows])]
    submodel = keras.Model(model.input, model.get_layer("hidden").output)
    np.testing.assert_allclose(
        read_embeddings(tmp_path), submodel(sample), rtol=1e-5
    )


@pytest.mark.parametrize(
    "layer",
    [None, "hidden", lambda model, batch: model.hidden(model.flat(batch))],
    ids=["default", "name", "function"],
)
def test_subclassed_model(tmp_path, layer):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    model = compiled(subclassed())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[
        EmbeddingProjector(tmp_path, x, y, layer=layer, sample_size=9),
    ])
    indices = sample_indices(tmp_path)
    np.testing.assert_allclose(
        read_embeddings(tmp_path), hidden_of(model, x[indices]), rtol=1e-5
    )
    assert "call" not in vars(model.hidden)  # the capture was undone


def test_freq_writes_where_epoch_mod_freq_is_zero_and_at_the_end(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    model = compiled(subclassed())
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            written = (tmp_path / "train" / "checkpoint").exists()
            seen.append((
                read_embeddings(tmp_path) if written else None,
                hidden_of(model, sample),
            ))

    projector = EmbeddingProjector(tmp_path, x, y, freq=2, sample_size=6)
    sample = x[np.sort(np.random.default_rng(0).choice(40, 6, replace=False))]
    model.fit(x, y, batch_size=8, epochs=4, verbose=0,
              callbacks=[projector, Probe()])
    assert list(sample_indices(tmp_path)) == list(np.flatnonzero(
        np.isin(x, sample).all(axis=(1, 2))))
    # Written at the end of epochs 0 and 2 (`epoch % freq == 0`), not 1 or
    # 3; then at the end of training, which epoch 3 left stale.
    np.testing.assert_allclose(seen[0][0], seen[0][1], rtol=1e-5)
    assert not np.allclose(seen[1][0], seen[1][1])
    np.testing.assert_allclose(seen[2][0], seen[2][1], rtol=1e-5)
    assert not np.allclose(seen[3][0], seen[3][1])
    np.testing.assert_allclose(
        read_embeddings(tmp_path), seen[3][1], rtol=1e-5
    )


def test_two_fits_rewrite_the_same_consistent_files(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    model = compiled(sequential())
    projector = EmbeddingProjector(tmp_path, x, y, sample_size=10)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[projector])
    first_metadata = read_metadata(tmp_path)
    first = read_embeddings(tmp_path)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[projector])
    assert projector_files(tmp_path) == ASSETS | {"sprite.png"}
    assert len(glob.glob(str(tmp_path / "train" / "events.*"))) == 1
    assert read_metadata(tmp_path) == first_metadata
    second = read_embeddings(tmp_path)
    assert second.shape == first.shape and not np.allclose(first, second)
    sample = x[sample_indices(tmp_path)]
    expected = model.get_layer("hidden")(model.get_layer("flat")(sample))
    np.testing.assert_allclose(second, expected, rtol=1e-5)


def test_non_image_data_warns_once_and_writes_no_sprite(tmp_path):
    x = np.random.default_rng(0).random((20, 6)).astype("float32")
    y = np.zeros(20, int)
    model = compiled(keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, name="hidden"),
        keras.layers.Dense(3, name="head"),
    ]))
    with pytest.warns(UserWarning, match=r"needs image inputs .* \(None, 6\)"):
        projector = EmbeddingProjector(tmp_path, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[projector])
    assert projector_files(tmp_path) == ASSETS
    assert len(read_metadata(tmp_path)) == 20 + 1


def test_too_large_sprite_warns_and_is_skipped():
    x = np.zeros((5, 5000, 5000), np.uint8)
    with pytest.warns(UserWarning, match="more than the Projector's limit"):
        projector = EmbeddingProjector("unused", x, sample_size=4)
    assert projector.sprite is False


def test_model_without_weights_warns_once_and_does_not_crash(tmp_path):
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten()])
    x, _ = image_data(4)
    projector = EmbeddingProjector(tmp_path, x, sprite=False, freq=1)
    callbacks = keras.callbacks.CallbackList([projector], model=model)
    with pytest.warns(UserWarning, match="has no layer with weights") as w:
        callbacks.on_train_begin()
        for epoch in range(2):
            callbacks.on_epoch_begin(epoch)
            callbacks.on_epoch_end(epoch, {})
        callbacks.on_train_end()
    assert len(w) == 1
    assert not os.path.exists(tmp_path / "train")


def test_custom_training_loop(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(16)
    model = subclassed()
    projector = EmbeddingProjector(tmp_path, x, y, layer="hidden")
    step = tape_step(model, apply_with(keras.optimizers.SGD(), model))
    train_with_callback_list(model, [projector], x, y, step)
    assert projector_files(tmp_path) == ASSETS | {"sprite.png"}
    assert list(sample_indices(tmp_path)) == list(range(16))
    np.testing.assert_allclose(
        read_embeddings(tmp_path), hidden_of(model, x), rtol=1e-5
    )


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    x, y = image_data(40)
    run = tmp_path / "run"
    tuner = tuner_search(tmp_path / "search", image_search_build(compiled),
                         x, y, EmbeddingProjector(run, x, y, sample_size=8))
    assert len(tuner.oracle.trials) == 2
    assert projector_files(run) == ASSETS | {"sprite.png"}
    # The files describe the last trial's model, whatever its width.
    last = tuner.oracle.trials[max(tuner.oracle.trials)]
    assert read_embeddings(run).shape == (8, last.hyperparameters["units"])


def test_mirrored_strategy(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = image_data(40)
    with mirrored_strategy().scope():
        model = compiled(subclassed())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[
        EmbeddingProjector(tmp_path, x, y, sample_size=10, freq=1),
    ])
    assert projector_files(tmp_path) == ASSETS | {"sprite.png"}
    assert len(glob.glob(str(tmp_path / "train" / "events.*"))) == 1
    np.testing.assert_allclose(
        read_embeddings(tmp_path),
        hidden_of(model, x[sample_indices(tmp_path)]), rtol=1e-5,
    )


def test_unknown_layer_name_lists_the_layers(tmp_path):
    x, y = image_data(40)
    model = compiled(sequential())
    with pytest.raises(ValueError, match=(
        "`layer` must name a layer of model 'seq', received: 'nope'. "
        "Available layers: flat, hidden, drop, head, probs"
    )):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[EmbeddingProjector(tmp_path, x, layer="nope")])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
        ({"sample_size": 0}, ValueError,
         "`sample_size` must be a positive integer, received: 0"),
        ({"sample_size": 2.5}, ValueError, "`sample_size` .*received: 2.5"),
        ({"freq": 0}, ValueError,
         "`freq` must be a positive integer or None, received: 0"),
        ({"batch_size": True}, ValueError, "`batch_size` .*received: True"),
        ({"seed": "0"}, TypeError, "`seed` must be an integer, received: '0'"),
        ({"sprite": 1}, TypeError,
         "`sprite` must be True or False, received: 1"),
        ({"layer": 3}, TypeError, "`layer` must be None, a layer name .*: 3"),
        ({"layer": keras.layers.Dense(2, name="d")}, TypeError,
         "received the layer object 'd'"),
        ({"data": np.zeros((0, 8, 8))}, ValueError,
         r"`data` must be an array of at least one example.*\(0, 8, 8\)"),
        ({"labels": np.zeros(5)}, ValueError,
         r"`labels` must have one entry per example of `data` \(40\), "
         r"received shape \(5,\)"),
        ({"labels": None, "class_names": CLASS_NAMES}, ValueError,
         "`class_names` needs `labels`"),
        ({"class_names": ["a", "b"]}, ValueError,
         r"`labels` must be integers in \[0, 2\) "
         r".*received values \[0, 1, 2\]"),
        ({"class_names": [1, 2, 3]}, TypeError, "`class_names` must be None"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, error, match):
    x, y = image_data(40)
    kwargs = {"log_dir": tmp_path, "data": x, "labels": y, **kwargs}
    with pytest.raises(error, match=match):
        EmbeddingProjector(**kwargs)
    assert os.listdir(tmp_path) == []


def test_one_hot_labels_and_sample_size_larger_than_data(tmp_path):
    x, y = image_data(6)
    projector = EmbeddingProjector(
        tmp_path, x, keras.utils.to_categorical(y, 3), sample_size=100
    )
    compiled(sequential()).fit(x, y, epochs=1, verbose=0,
                               callbacks=[projector])
    rows = read_metadata(tmp_path)
    assert rows[1:] == [[str(i), str(label)] for i, label in enumerate(y)]
    sprite = tf.io.decode_png(
        tf.io.read_file(str(tmp_path / "train" / "sprite.png"))
    )
    assert sprite.shape == (math.ceil(math.sqrt(6)) * 8,) * 2 + (1,)


def test_label_rows_that_are_not_one_hot_are_an_error(tmp_path):
    x, _ = image_data(3)
    scores = np.array([[0.0, 1.0, 0.0], [0.2, 0.7, 0.1], [1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=re.escape(
            "`labels` labels of shape (3, 3) must be one-hot rows (a single 1, "
            "zeros elsewhere); received row 1: [0.2 0.7 0.1]")):
        EmbeddingProjector(tmp_path, x, scores)
