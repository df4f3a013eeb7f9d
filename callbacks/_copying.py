"""Deep copies of callbacks without the state of the run they served.

KerasTuner deep-copies the callbacks given to `search` for each trial. The
configuration of a callback must be copied, but not what belongs to a past
run (its model, optimizer hooks, traced functions), and read-only data that
cannot or need not be copied (a `tf.data.Dataset`) is shared.
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
