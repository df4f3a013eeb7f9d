"""Checked image arrays: the four Keras keys from a file, a name or a download.

Every problem is a `DataError` naming the file (or data set) and what is
wrong, so `ktb` can answer it in one line before TensorFlow loads.
"""

import dataclasses
import io
import socket
import zipfile

import numpy as np

from .. import _remote
from ..errors import DataError

NUM_CLASSES = 10
REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
DOWNLOAD_TIMEOUT_S = 30
DEFAULT_DATASET = "mnist-mini"


@dataclasses.dataclass(frozen=True)
class Arrays:
    """The four arrays of an image classification data set, checked."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = NUM_CLASSES

    @property
    def input_shape(self):
        """Shape of one image as the models take it: (H, W, C)."""
        return with_channels(self.x_train).shape[1:]


def check_arrays(arrays, origin, num_classes=NUM_CLASSES):
    """Checks shapes, dtypes and label ranges of a mapping of the four keys.

    Returns an `Arrays`. Raises `DataError` naming `origin` and the problem.
    """
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DataError(
            f"{origin}: missing key(s) {', '.join(missing)}; an .npz data "
            f"file needs {', '.join(REQUIRED_KEYS)}"
        )
    checked = {}
    image_shape = None
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
            raise DataError(
                f"{origin}: x_{split} has shape {x.shape}; expected "
                "(N, H, W) or (N, H, W, C) with C 1 or 3"
            )
        if x.shape[0] == 0:
            raise DataError(f"{origin}: x_{split} is empty")
        if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
            raise DataError(
                f"{origin}: x_{split} has dtype {x.dtype}; expected uint8 "
                "(0..255) or float (0..1)"
            )
        if np.issubdtype(x.dtype, np.floating) and (
            not np.isfinite(x).all() or x.min() < 0 or x.max() > 1
        ):
            raise DataError(
                f"{origin}: x_{split} is float with values outside 0..1; "
                "expected uint8 (0..255) or float (0..1)"
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(
                f"{origin}: y_{split} has shape {y.shape}; expected "
                f"({x.shape[0]},), one integer label per image of x_{split}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(
                f"{origin}: y_{split} has dtype {y.dtype}; expected integer "
                f"class labels 0..{num_classes - 1}"
            )
        if y.min() < 0 or y.max() >= num_classes:
            raise DataError(
                f"{origin}: y_{split} has labels from {y.min()} to "
                f"{y.max()}; expected 0..{num_classes - 1}"
            )
        shape = with_channels(x).shape[1:]
        if image_shape is not None and shape != image_shape:
            raise DataError(
                f"{origin}: x_train images are {image_shape} but x_test "
                f"images are {shape}; both splits need one image shape"
            )
        image_shape = shape
        checked[f"x_{split}"], checked[f"y_{split}"] = x, y.astype(np.int32)
    return Arrays(name=str(origin), num_classes=num_classes, **checked)


def load_npz(path, name):
    """The checked arrays of the `.npz` file at `path`; errors name `name` or `path`.

    `path` may be a URL TensorFlow reaches (`gs://bucket/mnist.npz`), read
    through `tf.io.gfile`. The file is read whole into memory either way.

    Raises:
        DataError: `path` is missing, a directory or not a valid .npz file.
        FileSystemError: a URL on a file system this TensorFlow lacks or
            cannot reach (see `callbacks._fs`).
    """
    _remote.check_url(path, "--data")
    if not _remote.exists(path):
        raise DataError(f"{path}: no such file")
    if _remote.isdir(path):
        raise DataError(f"{path}: is a directory, expected an .npz file")
    try:
        # Read whole, so that a local file and a URL take one path.
        content = _remote.read_bytes(path)
        magic = content[:6]
        if magic == b"\x93NUMPY":
            raise DataError(
                f"{path}: is a single .npy array, expected an .npz file "
                f"with {', '.join(REQUIRED_KEYS)}"
            )
        if not magic.startswith(b"PK"):
            raise DataError(f"{path}: not an .npz file (no zip archive header)")
        with np.load(io.BytesIO(content), allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path}: not a readable .npz file ({reason})") from None
    return check_arrays(contents, origin=name if name != path else path)


def load_keras_dataset(name):
    """The checked arrays of `keras.datasets.<name>`, downloaded on first use.

    Each network operation of the download gives up after
    `DOWNLOAD_TIMEOUT_S` seconds, so an offline machine gets a one-line
    `DataError` instead of a hang.
    """
    import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # keras wraps every network failure differently
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise DataError(
            f"--dataset {name}: download failed ({reason}); offline, use "
            f"--data PATH to an .npz file or the embedded default "
            f"--dataset {DEFAULT_DATASET}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return check_arrays(
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
        origin=name,
    )


def with_channels(x):
    """Images with a channel axis: (N, H, W) becomes (N, H, W, 1)."""
    return x[..., np.newaxis] if x.ndim == 3 else x
