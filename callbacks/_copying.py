"""Deep copies of callbacks without the state of the run they served.

KerasTuner deep-copies the callbacks given to `search` for each trial. The
configuration of a callback must be copied, but not what belongs to a past
run (its model, writers, threads, optimizer hooks, traced functions), and
read-only data that cannot or need not be copied (a `tf.data.Dataset`) is
shared. This is the package's one deep-copy scheme: a class derives from
`CopiesConfiguration`, says in `_fresh_state()` what a run that has not
started holds (its `__init__` starts from the same dict, so the two cannot
drift apart) and names in `_SHARED` what its copies share.
"""

import copy


def copy_configuration(callback, memo, fresh=None, shared=()):
    """A deep copy of `callback`, for its `__deepcopy__`.

    Args:
        callback: the object to copy.
        memo: the `memo` dict `__deepcopy__` receives.
        fresh: a dict of attributes that the copy gets instead of copies of
            the callback's (the state of a run that has not started).
        shared: names of attributes that the copy shares with the callback.
    """
    clone = object.__new__(type(callback))
    memo[id(callback)] = clone
    fresh = fresh or {}
    for name, value in callback.__dict__.items():
        if name in fresh:
            continue
        if name not in shared:
            value = copy.deepcopy(value, memo)
        clone.__dict__[name] = value
    clone.__dict__.update(fresh)
    return clone


class CopiesConfiguration:
    """Mixin: a deep copy copies the configuration, not the run.

    Subclasses override `_fresh_state` (and set it in `__init__` with
    `self.__dict__.update(self._fresh_state())`) and may list attributes
    in `_SHARED`. A Keras callback's copy never carries the model it was
    set to (`_model`, where `Callback.set_model` keeps it).
    """

    _SHARED = ()

    def _fresh_state(self):
        """Attributes of a run that has not started, by name."""
        return {}

    def __deepcopy__(self, memo):
        fresh = self._fresh_state()
        if "_model" in self.__dict__:
            fresh.setdefault("_model", None)
        return copy_configuration(self, memo, fresh, self._SHARED)
