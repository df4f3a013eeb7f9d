"""The package's one layer-call interceptor.

Sequential, Functional and subclassed models all run their layers through
`Layer.__call__`, which calls `self.call`. Shadowing `call` on chosen layer
*instances* (see `_keras_compat`) for the length of one eager forward pass
therefore sees what they receive and return whatever the model style,
without building a second model. The shadowing never outlives the block,
so no traced training function can see it. Activation histograms, the
Projector and Grad-CAM all use `intercepting_calls`.
"""

import contextlib

from . import _keras_compat


@contextlib.contextmanager
def intercepting_calls(layers, on_call):
    """Calls `on_call(layer, args, kwargs, result)` after each call of one of
    `layers` while the context is active, then restores the layers.

    Keras 3 has no forward hooks, and subclassed models have no symbolic
    graph to cut a sub-model from, so each instance's `call` is shadowed
    (see `_keras_compat`) for the duration of the block only.
    """
    tokens = []
    try:
        for layer in layers:
            previous = _keras_compat.shadowed(layer, "call")
            call = _keras_compat.unshadowed_method(layer, "call", previous)
            tokens.append(_keras_compat.shadow(
                layer, "call", _intercepted(layer, call, on_call)
            ))
        yield
    finally:
        for token in reversed(tokens):
            _keras_compat.unshadow(token)


def _intercepted(layer, call, on_call):
    def intercepted(*args, **kwargs):
        result = call(*args, **kwargs)
        on_call(layer, args, kwargs, result)
        return result

    return intercepted
