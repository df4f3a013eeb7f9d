"""Reads TensorBoard event files back with TensorBoard's own reader."""

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
