"""Capture of the gradients that an optimizer applies in a training step.

Every Keras 3 training step ends in `optimizer.apply(grads, variables)`
(what this relies on is listed in `callbacks._keras_compat`):
`Model.fit`'s default `train_step` calls `apply_gradients`, which calls
`self.apply`, and a custom `train_step` or a hand-written loop calls one of
the two. Replacing `apply` on the optimizer *instance* therefore sees the
real gradients of the real loss, inside the traced (even XLA-compiled) step,
without computing anything twice.

The replacement (`_ApplyHook`) only adds graph ops when a step is traced: it
copies each weight before the update and each gradient into capture
variables, and bumps a step counter; three ops per variable, so tracing a
step (once or twice per `fit`, once per trial of a search) costs little
more. Those are device-side writes, so the training loop gets no host
synchronisation; the update (weight now minus the copy) and every norm are
computed at logging time. Under `tf.distribute`, the capture variables are
`ON_READ` variables: each replica writes its own gradient and a read in the
cross-replica context returns the sum, which is what the optimizer applies
after its all-reduce (Keras divides each replica's loss by the number of
replicas, so the sum is the gradient of the global-batch mean loss).
"""

import keras
import tensorflow as tf

from .. import _keras_compat
from . import _buckets


def capture_for(model, capture=None, track_updates=True):
    """Returns a `GradientCapture` attached to `model.optimizer`.

    Reuses `capture` if it was made for that optimizer, and otherwise
    releases it; returns None when the model has no optimizer.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "apply"):
        current = None
    elif capture is not None and capture.optimizer is optimizer:
        current = capture
    else:
        strategy = getattr(model, "distribute_strategy", None)
        current = GradientCapture(
            optimizer, strategy or tf.distribute.get_strategy(), track_updates
        )
    if capture is not None and current is not capture:
        release(model, capture)
    if current is not None:
        current.prepare(model.trainable_variables)
        attach(optimizer, current)
    return current


def release(model, capture):
    """Detaches `capture` and drops the train function traced with it.

    Without the second step, the model's traced train function would keep
    writing into the capture variables after the callback is gone.
    """
    if is_attached(capture.optimizer, capture):
        detach(capture.optimizer, capture)
        if getattr(model, "train_function", None) is not None:
            model.train_function = None


def attach(optimizer, listener):
    """Routes `optimizer`'s `apply` calls through `listener`; idempotent.

    Several listeners (several callbacks) may share one optimizer: they are
    nested in the order they attached. A `LossScaleOptimizer` is hooked on
    its inner optimizer, which receives the unscaled gradients.
    """
    target = _innermost(optimizer)
    hook = _keras_compat.shadowed(target, "apply")
    if not isinstance(hook, _ApplyHook):
        hook = _ApplyHook(target)
        hook.token = _keras_compat.shadow(target, "apply", hook)
    if listener not in hook.listeners:
        hook.listeners.append(listener)


def detach(optimizer, listener):
    """Removes `listener`; restores the original `apply` once none is left."""
    hook = _keras_compat.shadowed(_innermost(optimizer), "apply")
    if not isinstance(hook, _ApplyHook):
        return
    if listener in hook.listeners:
        hook.listeners.remove(listener)
    if not hook.listeners:
        _keras_compat.unshadow(hook.token)


def is_attached(optimizer, listener):
    hook = _keras_compat.shadowed(_innermost(optimizer), "apply")
    return isinstance(hook, _ApplyHook) and listener in hook.listeners


def _innermost(optimizer):
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


class _ApplyHook:
    """Stands in for `optimizer.apply` and calls the listeners around it."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.listeners = []
        self.token = None
        self._original = _keras_compat.unshadowed_method(
            optimizer, "apply", _keras_compat.shadowed(optimizer, "apply")
        )

    def __call__(self, grads, trainable_variables=None):
        original = self._original
        grads = list(grads)
        variables = trainable_variables
        if variables is None:
            # Keras' documented form `apply(grads)` uses the variables the
            # optimizer was built with.
            variables = _keras_compat.built_variables(self.optimizer)
        variables = list(variables)
        if len(variables) != len(grads):
            return original(grads, trainable_variables)

        def apply_fn(grads):
            return original(grads, trainable_variables)

        for listener in self.listeners:
            apply_fn = _bind(listener, apply_fn, self.optimizer, variables)
        return apply_fn(grads)


def _bind(listener, apply_fn, optimizer, variables):
    def bound(grads):
        return listener.around_apply(apply_fn, optimizer, grads, variables)

    return bound


class _Slot:
    """Capture variables for one trainable variable."""

    def __init__(self, variable, strategy, track_updates):
        self.variable = variable  # Keeps `id(variable)` from being reused.
        dtype = _dtype(variable)
        with tf.init_scope(), strategy.scope():
            self.gradient = tf.Variable(
                tf.zeros(variable.shape, dtype),
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
                name="captured_gradient",
            )
            # The weights before the last update; every replica holds the
            # same, so a read takes the first replica's without a collective.
            self.before = None if not track_updates else tf.Variable(
                tf.zeros(variable.shape, dtype),
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
                name="captured_weights_before",
            )
        self.has_gradient = False


class GradientCapture:
    """Listener that keeps the last gradients and weight updates.

    Args:
        optimizer: the optimizer it is meant for (kept for the caller).
        strategy: the model's `tf.distribute.Strategy`.
        track_updates: whether to keep each variable's value before the
            last update, for ||w_after - w_before||^2 (one more copy of the
            trainable weights on the device, written every step).
    """

    def __init__(self, optimizer, strategy, track_updates=True):
        self.optimizer = optimizer
        self.strategy = strategy
        self.track_updates = track_updates
        self._slots = {}
        self.uncaptured = []  # names of variables no slot could be made for
        with tf.init_scope(), strategy.scope():
            self.steps = tf.Variable(
                tf.zeros((), tf.int64),
                trainable=False,
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
                name="captured_steps",
            )

    def prepare(self, variables):
        """Creates the capture variables now (outside any traced function)."""
        for variable in variables:
            self._slot(variable)

    def steps_taken(self):
        """Number of `apply` calls seen so far (a host read)."""
        return int(self.steps.read_value())

    def update_sq_norm(self, variable):
        """||Δvariable||² of the last step as a float, or None if not tracked.

        A host read of the variable and its copy from before the step.
        """
        slot = self._slots.get(id(variable))
        if slot is None or slot.before is None or not slot.has_gradient:
            return None
        before = tf.convert_to_tensor(slot.before)
        now = tf.cast(tf.convert_to_tensor(variable), before.dtype)
        return _buckets.squared_norm(now - before)

    def snapshot(self):
        """The captured gradients read once, as a `GradientSnapshot`.

        Reading an `ON_READ` gradient sums it across replicas; under
        `MultiWorkerMirroredStrategy` that is an all-reduce across workers,
        so every worker must take the snapshot at the same points (the
        chief alone writes it). A gradient `_buckets` handles on the host
        is copied there now, once, for its histogram, non-finite count and
        norm.
        """
        return GradientSnapshot(self, {
            key: _buckets.where_bucketed(tf.convert_to_tensor(slot.gradient))
            for key, slot in self._slots.items() if slot.has_gradient
        })

    def _slot(self, variable):
        slot = self._slots.get(id(variable))
        if slot is None:
            replica = tf.distribute.get_replica_context()
            if (
                replica is not None
                and replica.num_replicas_in_sync > 1
                and tf.distribute.has_strategy()
            ):
                # Variables cannot be made from inside a replica function.
                self.uncaptured.append(getattr(variable, "path", "?"))
                return None
            slot = _Slot(variable, self.strategy, self.track_updates)
            self._slots[id(variable)] = slot
        return slot

    def around_apply(self, apply_fn, optimizer, grads, variables):
        slots = [self._slot(v) for v in variables]
        for grad, variable, slot in zip(grads, variables, slots):
            if grad is not None and slot is not None and slot.before is not None:
                # Automatic control dependencies order this read before
                # the optimizer's write to the same variable.
                slot.before.assign(_value(variable))
        result = apply_fn(grads)
        scale = getattr(optimizer, "loss_scale_factor", None)
        for grad, slot in zip(grads, slots):
            if grad is None or slot is None:
                continue
            slot.has_gradient = True
            grad = tf.convert_to_tensor(grad)  # Densifies IndexedSlices.
            if scale is not None:
                grad = grad / scale
            slot.gradient.assign(tf.cast(grad, slot.gradient.dtype))
        self.steps.assign_add(1)
        return result


class GradientSnapshot:
    """The gradients of a `GradientCapture` as read at one moment.

    `gradient(variable)`, `gradients()` and `update_sq_norm(variable)`
    answer from that reading (the update from the capture's copy of the
    weights before the step).
    """

    def __init__(self, capture, gradients):
        self._capture = capture
        self._gradients = gradients

    def gradient(self, variable):
        return self._gradients.get(id(variable))

    def gradients(self):
        return list(self._gradients.values())

    def update_sq_norm(self, variable):
        return self._capture.update_sq_norm(variable)


def _value(variable):
    """The backing `tf.Variable` of a Keras variable (or the variable)."""
    if isinstance(variable, keras.Variable):
        return variable.value
    return variable


def _dtype(variable):
    return tf.as_dtype(getattr(variable, "dtype", tf.float32))
