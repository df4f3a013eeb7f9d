"""Reads TensorBoard event files back with TensorBoard's own reader."""

import glob
import os

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import types_pb2

_STRING = types_pb2.DT_STRING

ALL = {
    event_accumulator.SCALARS: 0,
    event_accumulator.TENSORS: 0,
    event_accumulator.IMAGES: 0,
    event_accumulator.HISTOGRAMS: 0,
    event_accumulator.GRAPH: 0,
}


def load(run_dir):
    """An `EventAccumulator` over every event file of `run_dir`, loaded."""
    accumulator = event_accumulator.EventAccumulator(str(run_dir), size_guidance=ALL)
    return accumulator.Reload()


def scalars(run_dir):
    """{tag: [(step, value), ...]} of the scalars written in `run_dir`.

    Keras 3 and `tf.summary.scalar` write scalars as tensor summaries, so
    both the legacy scalar and the tensor stores are read.
    """
    accumulator = load(run_dir)
    tags = accumulator.Tags()
    found = {}
    for tag in tags.get("scalars", []):
        found[tag] = [(e.step, e.value) for e in accumulator.Scalars(tag)]
    for tag in tags.get("tensors", []):
        events = accumulator.Tensors(tag)
        if all(
            not e.tensor_proto.tensor_shape.dim and e.tensor_proto.dtype != _STRING
            for e in events
        ):
            found[tag] = [
                (e.step, float(_scalar(e.tensor_proto))) for e in events
            ]
    return found


def _scalar(proto):
    import tensorflow as tf

    return tf.make_ndarray(proto)


def images(run_dir):
    """{tag: [(step, decoded image array), ...]} of the images of `run_dir`."""
    import tensorflow as tf

    accumulator = load(run_dir)
    found = {}
    for tag in accumulator.Tags()["tensors"]:
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name != "images":
            continue
        found[tag] = [
            (event.step, tf.io.decode_png(
                tf.make_ndarray(event.tensor_proto)[2]).numpy())
            for event in accumulator.Tensors(tag)
        ]
    return found


def summary_rows(run_dir):
    """(event file, tag, step, value) of every summary in `run_dir`.

    Read file by file (in name order, so in order of creation) with
    `tf.compat.v1.train.summary_iterator`, so that a test can tell which
    event file, i.e. which `fit`, wrote what.
    """
    import tensorflow as tf

    rows = []
    for path in _event_files(run_dir):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                rows.append(
                    (path, value.tag, event.step, tf.make_ndarray(value.tensor))
                )
    return rows


def graph_defs(run_dir):
    """The `GraphDef`s written in the event files of `run_dir`."""
    import tensorflow as tf

    return [
        tf.compat.v1.GraphDef.FromString(event.graph_def)
        for path in _event_files(run_dir)
        for event in tf.compat.v1.train.summary_iterator(path)
        if event.graph_def
    ]


def _event_files(run_dir):
    return sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))


def plugin_context(logdir):
    """A plugin's `TBContext` over the runs below `logdir`, as `tensorboard
    --logdir` serves them."""
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    return base_plugin.TBContext(logdir=str(logdir), data_provider=provider)


def plugin_tensors(run_dir, plugin_name):
    """{tag: [(step, array), ...]} of the tensor summaries of `run_dir`
    whose metadata names the TensorBoard plugin `plugin_name`."""
    import tensorflow as tf

    accumulator = load(run_dir)
    return {
        tag: [(event.step, tf.make_ndarray(event.tensor_proto))
              for event in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        == plugin_name
    }
