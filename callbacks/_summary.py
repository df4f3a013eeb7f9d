"""Summary writers, the chief and the global step, shared by the callbacks.

Callbacks write below the run directory with the layout of
`keras.callbacks.TensorBoard` (`train/`, `validation/`), so a run directory
can be shared with it. Writers are opened lazily (nothing is written before
training starts) and only by the chief: under `tf.distribute`, callbacks run
once per worker process, and a multi-worker job must have exactly one writer.
"""

import json
import os

import keras
import tensorflow as tf


def is_chief():
    """Whether this process should write summaries and files.

    A single process (with or without `MirroredStrategy`) is always the
    chief. In a multi-worker job described by `TF_CONFIG`, the chief is the
    task of type `chief`, or worker 0 when the cluster has no chief.
    """
    config = os.environ.get("TF_CONFIG")
    if not config:
        return True
    try:
        config = json.loads(config)
    except ValueError:
        return True
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    task_type = task.get("type")
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    if task_type == "worker" and "chief" not in cluster:
        return int(task.get("index", 0)) == 0
    return False


def optimizer_steps(model):
    """The training steps `model.optimizer` has taken (a host read), or None
    when the model has no optimizer (a hand-written loop, for one)."""
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    if iterations is None:
        return None
    return int(keras.ops.convert_to_numpy(iterations))


class RunWriters:
    """Lazily opened `tf.summary` writers for the subdirectories of a run.

    `writer("train")` returns a writer for `<log_dir>/train`, opening it on
    first use. `close()` flushes and closes every writer, after which the
    next `writer()` call opens a new event file, so one instance can serve
    several `fit()` calls.
    """

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self._writers = {}

    def writer(self, subdir=""):
        writer = self._writers.get(subdir)
        if writer is None:
            path = os.path.join(self.log_dir, subdir) if subdir else self.log_dir
            writer = tf.summary.create_file_writer(path)
            self._writers[subdir] = writer
        return writer

    def flush(self):
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
