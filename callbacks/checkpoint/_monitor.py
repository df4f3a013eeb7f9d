"""The monitored metric: its direction, its value and what "better" means.

The rules follow Keras' `MonitorCallback` (`keras/src/callbacks/
monitor_callback.py`): in `"auto"` mode the direction is that of the model's
metric of the same name (`_keras_compat.metric_direction`), a loss
is minimised, and otherwise the name decides as in Keras 2: accuracy-like
names (`acc`, `auc`, `precision`, `recall`, ...) are maximised, anything else
minimised. A NaN or infinite value is never an improvement.
"""

import math

from .. import _keras_compat

_MAXIMISED_HINTS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou")


def resolve_mode(monitor, mode, model=None):
    """Returns `"min"` or `"max"` for `monitor` under `mode`."""
    if mode in ("min", "max"):
        return mode
    name = monitor.removeprefix("val_")
    for metric in _flat_metrics(model):
        direction = _keras_compat.metric_direction(metric)
        if metric.name == name and direction is not None:
            return "max" if direction == "up" else "min"
    if name.endswith("loss"):
        return "min"
    lowered = name.lower()
    return "max" if any(h in lowered for h in _MAXIMISED_HINTS) else "min"


def _flat_metrics(model):
    for metric in getattr(model, "metrics", None) or ():
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            yield from inner
        else:
            yield metric


def monitored_value(logs, monitor):
    """Returns `logs[monitor]` as a float, or None when absent."""
    if not logs or logs.get(monitor) is None:
        return None
    return float(logs[monitor])


def is_finite(value):
    return value is not None and math.isfinite(value)


def improves(value, best, mode):
    """Whether `value` is strictly better than `best` (None: no best yet)."""
    if not is_finite(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def best_of(best, value, mode):
    return value if improves(value, best, mode) else best


def rank_key(mode):
    """Sort key putting the best metric first; ties keep the older one."""
    sign = 1.0 if mode == "min" else -1.0
    return lambda entry: (sign * entry["value"], entry["seq"])
