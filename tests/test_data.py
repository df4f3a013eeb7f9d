import math

import keras
import numpy as np
import pytest

from keras_tb_toolkit.toolkit import data
from keras_tb_toolkit.toolkit.errors import DataError


def _write_npz(path, **overrides):
    arrays = {
        "x_train": np.zeros((12, 28, 28), np.uint8),
        "y_train": np.arange(12, dtype=np.uint8) % 10,
        "x_test": np.zeros((4, 28, 28), np.uint8),
        "y_test": np.arange(4, dtype=np.uint8),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return str(path)


def test_embedded_subset_is_real_mnist():
    arrays = data.load_arrays("mnist-mini")
    assert arrays.x_train.shape == (10000, 28, 28)
    assert arrays.x_test.shape == (2000, 28, 28)
    assert arrays.x_train.dtype == np.uint8
    assert sorted(np.unique(arrays.y_train)) == list(range(10))
    assert arrays.input_shape == (28, 28, 1)


def test_pipelines_are_normalized_and_batched():
    pipelines = data.load_data(batch_size=32, limit=100, epochs=1)
    assert pipelines.steps_per_epoch == math.ceil(100 / 32)
    batches = list(pipelines.train)
    assert [len(b[1]) for b in batches] == [32, 32, 32, 4]
    images, labels = batches[0]
    assert images.shape == (32, 28, 28, 1) and images.dtype == "float32"
    assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0
    assert float(images.numpy().max()) > 0.9
    test_images, _ = next(iter(pipelines.test))
    expected = pipelines.arrays.x_test[:32, :, :, None] / 255.0
    np.testing.assert_allclose(test_images.numpy(), expected, atol=1e-6)


def _labels(dataset):
    return np.concatenate([y.numpy() for _, y in dataset])


def test_order_is_a_function_of_seed_and_epoch():
    def stream(**kw):
        return _labels(data.load_data(batch_size=16, limit=64, **kw).train)

    full = stream(seed=3, epochs=3)
    assert np.array_equal(full, stream(seed=3, epochs=3))
    epochs = full.reshape(3, 64)
    assert not np.array_equal(epochs[0], epochs[1])
    assert sorted(epochs[1]) == sorted(epochs[0])
    assert not np.array_equal(full, stream(seed=4, epochs=3))
    # Resuming at epoch 1, or skipping the two batches consumed, continues the stream.
    assert np.array_equal(stream(seed=3, epochs=3, initial_epoch=1), full[64:])
    assert np.array_equal(
        stream(seed=3, epochs=3, initial_epoch=1, skip_batches=2), full[64 + 32:]
    )


def test_validation_split_holds_out_the_end_of_the_training_set():
    pipelines = data.load_data(limit=100, validation_split=0.2, batch_size=10)
    assert pipelines.steps_per_epoch == 8
    np.testing.assert_array_equal(
        _labels(pipelines.validation), pipelines.arrays.y_train[80:]
    )


def test_npz_file_round_trip(tmp_path):
    path = _write_npz(tmp_path / "ok.npz")
    arrays = data.load_arrays(path)
    assert arrays.x_train.shape == (12, 28, 28)
    assert arrays.y_train.dtype == np.int32


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, r"missing key\(s\) y_test"),
        ({"x_train": np.zeros((12, 28), np.uint8)}, r"x_train has shape \(12, 28\)"),
        ({"x_train": np.zeros((12, 28, 28), np.int64)}, r"x_train has dtype int64"),
        ({"x_test": np.full((4, 28, 28), 3.0, np.float32)}, r"x_test is float with values outside 0..1"),
        ({"y_train": np.arange(12) + 5}, r"y_train has labels from 5 to 16; expected 0..9"),
        ({"y_train": np.zeros(11, np.uint8)}, r"y_train has shape \(11,\)"),
        ({"y_train": np.zeros(12, np.float32)}, r"y_train has dtype float32"),
        ({"x_train": np.zeros((0, 28, 28), np.uint8), "y_train": np.zeros(0, np.uint8)}, r"x_train is empty"),
        ({"x_test": np.zeros((4, 14, 14), np.uint8)}, r"x_train images are \(28, 28, 1\) but x_test images are \(14, 14, 1\)"),
    ],
)
def test_malformed_npz_is_rejected_naming_file_and_problem(tmp_path, overrides, message):
    path = _write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=message) as info:
        data.load_arrays(path)
    assert str(info.value).startswith(path)


def test_files_that_are_not_npz(tmp_path):
    with pytest.raises(DataError, match=r"missing\.npz: no such file"):
        data.load_arrays(str(tmp_path / "missing.npz"))
    text = tmp_path / "text.npz"
    text.write_text("not numbers")
    with pytest.raises(DataError, match=r"text\.npz: not an \.npz file \(no zip archive header\)"):
        data.load_arrays(str(text))
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"single\.npy: is a single \.npy array"):
        data.load_arrays(str(tmp_path / "single.npy"))
    good = _write_npz(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(open(good, "rb").read()[:200])
    with pytest.raises(DataError, match=r"truncated\.npz: not a readable \.npz file"):
        data.load_arrays(str(truncated))
    with pytest.raises(DataError, match=r"is a directory"):
        data.load_arrays(str(tmp_path) + "/")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match=r"unknown data set 'cifar': expected one of mnist-mini, mnist, fashion_mnist"):
        data.load_arrays("cifar")


def test_offline_download_fails_fast_with_a_hint(monkeypatch):
    def offline():
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(DataError, match=r"^--dataset fashion_mnist: download failed \(URL fetch failure.*use --data PATH .* --dataset mnist-mini$"):
        data.load_arrays("fashion_mnist")
