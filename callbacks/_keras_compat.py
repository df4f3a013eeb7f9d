"""Every private name and internal behaviour of Keras this package relies on.

Keras 3 offers no public hook for what some callbacks need, so they use
the following, here and nowhere else. `tests/test_keras_compat.py` checks
each one against the installed Keras and names its version when one
breaks. Tested with Keras 3.15.

1. `Metric._direction` (`"up"` or `"down"`): the direction of a metric, for
   `Checkpoint(mode="auto")`. Keras' own `MonitorCallback` reads the same
   private attribute; there is no public one.
2. `Optimizer._trainable_variables`: the variables an optimizer was built
   with. Keras' documented form `optimizer.apply(grads)` (no variables)
   applies the gradients to them; the gradient capture of
   `HistogramLogger` needs to know which they are, and the optimizer's
   public `variables` also holds its slots.
3. `optimizer.apply_gradients` calls `self.apply`, and `Layer.__call__`
   calls `self.call`, both looked up on the instance. Shadowing `apply` (or
   `call`) on one instance is therefore seen by every training step traced
   afterwards (or by every forward pass): this is how gradients and layer
   outputs are captured without computing anything twice. The shadow is set
   with `object.__setattr__`, which bypasses the attribute tracking of
   Keras layers and optimizers, so it never becomes part of their state.
"""

import keras

KERAS_VERSION = keras.__version__


def metric_direction(metric):
    """`"up"` when higher is better, `"down"` when lower is, else None."""
    direction = getattr(metric, "_direction", None)
    return direction if direction in ("up", "down") else None


def built_variables(optimizer):
    """The variables `optimizer` was built with (empty when unbuilt)."""
    return list(getattr(optimizer, "_trainable_variables", None) or [])


def shadow(instance, name, replacement):
    """Replaces method `name` on `instance` only; returns an undo token.

    Pass the token to `unshadow` to put back what the instance had before
    (its own attribute, or nothing so the class method shows again).
    """
    token = (instance, name, instance.__dict__.get(name))
    object.__setattr__(instance, name, replacement)
    return token


def unshadow(token):
    """Undoes one `shadow`."""
    instance, name, previous = token
    if previous is None:
        object.__delattr__(instance, name)
    else:
        object.__setattr__(instance, name, previous)


def shadowed(instance, name):
    """The replacement set by `shadow` on `instance`, or None."""
    return instance.__dict__.get(name)


def unshadowed_method(instance, name, previous=None):
    """The method `name` that `instance` had before it was shadowed."""
    return previous or getattr(type(instance), name).__get__(instance)
