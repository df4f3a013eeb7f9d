"""Shared test set-up, run before any test module imports TensorFlow.

Quiets TensorFlow, and splits the CPU into two logical devices so that
`helpers.mirrored_strategy()` can run two replicas; TensorFlow accepts this
only before it initialises its devices, hence here, at import time.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

try:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )
except RuntimeError:
    pass  # Devices already initialised: the distributed tests skip.
