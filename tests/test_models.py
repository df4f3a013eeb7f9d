import keras
import numpy as np
import pytest

from keras_tb_toolkit.toolkit import models
from keras_tb_toolkit.toolkit.errors import ConfigError


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.random((8, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 8)


def test_sequential_is_the_seeds_cnn():
    model = models.build_sequential()
    assert model.count_params() == 93_322
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 93_322
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D",
        "Flatten", "Dense", "Dense",
    ]


def test_functional_has_parallel_branches_merged_and_a_residual_block():
    model = models.build_functional()
    names = {layer.name: layer for layer in model.layers}
    assert {"branch_3x3", "branch_5x5", "merge", "residual_add"} <= set(names)
    assert type(names["merge"]).__name__ == "Concatenate"
    assert names["branch_3x3"].kernel_size == (3, 3)
    assert names["branch_5x5"].kernel_size == (5, 5)
    # The residual add takes the block's input directly: a skip connection.
    add_inputs = {t._keras_history.operation.name for t in names["residual_add"].input}
    assert add_inputs == {"pool_1", "residual_conv_2"}
    added = models.build_functional(merge="add", residual=False)
    assert type(added.get_layer("merge")).__name__ == "Add"
    assert "residual_add" not in {layer.name for layer in added.layers}


@pytest.mark.slow
@pytest.mark.parametrize("api", models.API_STYLES)
def test_every_builder_builds_and_trains_a_step(api, batch):
    keras.utils.set_random_seed(0)
    model = models.build_model(api, batch_norm=True, dropout=0.25)
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.train_on_batch(*batch, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert np.isfinite(logs["loss"])
    assert int(model.optimizer.iterations) == 1
    after = model.trainable_weights
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))
    probabilities = model.predict(batch[0], verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_subclassed_round_trips_through_keras_file(tmp_path, batch):
    keras.utils.set_random_seed(0)
    model = models.build_model("subclassed", label_smoothing=0.1, clipnorm=1.0)
    model.fit(*batch, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, models.SubclassedCNN)
    assert (loaded.label_smoothing, loaded.clipnorm) == (0.1, 1.0)
    np.testing.assert_array_equal(
        model.predict(batch[0], verbose=0), loaded.predict(batch[0], verbose=0)
    )
    assert int(loaded.optimizer.iterations) == 1
    assert loaded.evaluate(*batch, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(*batch, verbose=0, return_dict=True)
    )


def test_subclassed_train_step_clips_the_gradient_norm(batch):
    keras.utils.set_random_seed(0)
    model = models.build_subclassed(clipnorm=0.01)
    models.compile_model(model, optimizer="sgd", learning_rate=1.0)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.train_on_batch(*batch)
    # SGD with momentum 0.9, lr 1: one step moves the weights by the clipped gradient.
    moved = np.sqrt(sum(np.sum((w.numpy() - b) ** 2) for w, b in zip(model.trainable_weights, before)))
    assert moved == pytest.approx(0.01, rel=1e-4)


@pytest.mark.parametrize(
    "api, hparams, message",
    [
        ("sequential", {"conv_filters": (8, 8, 8, 8)}, r"4 conv blocks with kernel 3 shrink a 28x28 image below 1x1"),
        ("functional", {"conv_filters": (8, 8, 8, 8)}, r"5 conv blocks with kernel 3 shrink"),
        ("subclassed", {"conv_filters": (8, 8, 8, 8), "kernel_size": 5}, r"4 conv blocks with kernel 5 shrink"),
        ("functional", {"merge": "mul"}, r"merge must be one of concat, add, received: 'mul'"),
        ("subclassed", {"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\), received: 1.5"),
        ("sequential", {"optimizer": "adagrad"}, r"optimizer must be one of adam, adamw, rmsprop, sgd, received: 'adagrad'"),
        ("sequential", {"learning_rate": 0}, r"learning_rate must be > 0, received: 0"),
        ("resnet", {}, r"api must be one of sequential, functional, subclassed, received: 'resnet'"),
    ],
)
def test_hyperparameters_that_cannot_build_are_rejected(api, hparams, message):
    with pytest.raises(ConfigError, match=message):
        models.build_model(api, **hparams)


@pytest.mark.parametrize("api", models.API_STYLES)
def test_same_padding_keeps_three_blocks_of_kernel_5_on_28x28(api):
    # With "valid" padding these blocks shrink 28x28 below 1x1.
    hparams = dict(conv_filters=(16, 16, 16), kernel_size=5)
    if api == "functional":
        hparams = dict(conv_filters=(16, 16, 16, 16))  # after the branches' block
        with pytest.raises(ConfigError, match="5 conv blocks with kernel 3 shrink a 28x28"):
            models.build_model(api, **hparams)
    elif api != "subclassed":
        with pytest.raises(ConfigError, match="3 conv blocks with kernel 5 shrink a 28x28"):
            models.build_model(api, **hparams)
    model = models.build_model(api, padding="same", batch_norm=True,
                               batch_norm_momentum=0.9, **hparams)
    assert tuple(model.compute_output_shape((2, 28, 28, 1))) == (2, 10)
    momenta = {layer.momentum for layer in _layers(model)
               if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.9}


def _layers(model):
    return model.blocks if isinstance(model, models.SubclassedCNN) else model.layers


def test_subclassed_keeps_padding_and_momentum_through_its_config():
    model = models.build_model("subclassed", padding="same", batch_norm=True,
                               batch_norm_momentum=0.9)
    config = model.get_config()
    assert (config["padding"], config["batch_norm_momentum"]) == ("same", 0.9)
    rebuilt = models.SubclassedCNN.from_config(config)
    assert (rebuilt.padding, rebuilt.batch_norm_momentum) == ("same", 0.9)


def test_unknown_padding_is_rejected():
    with pytest.raises(ConfigError, match="padding must be one of valid, same, received: 'full'"):
        models.build_model("sequential", padding="full")
