"""LivePlot: one display per fit, updated in place, and silent outside a kernel.

A Jupyter kernel is stood in for by patching `IPython.get_ipython` (a shell
with a `kernel`) and `IPython.display.display` (which records what it is
given) from outside; tests/test_examples.py runs it in a real kernel.
"""

import copy
import math
import re
import types
import warnings

import IPython
import IPython.display
import numpy as np
import pytest

from helpers import assert_warned_once, own_warnings, tiny_classifier, train_with_callback_list
from keras_tb_toolkit.callbacks import LivePlot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FakeNotebook:
    """What a kernel's display would have shown: one list of images per
    display id, the first being the initial display, the rest updates."""

    def __init__(self):
        self.outputs = []

    def display(self, image, display_id=None):
        assert display_id is True, "LivePlot must ask for a display id"
        images = [image.data]
        self.outputs.append(images)
        return types.SimpleNamespace(update=lambda new: images.append(new.data))


@pytest.fixture
def notebook(monkeypatch):
    fake = FakeNotebook()
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", fake.display)
    return fake


def fit(callback, epochs=2, batch_size=8, **kwargs):
    model, x, y = tiny_classifier()
    return model.fit(x, y, validation_data=(x, y), epochs=epochs, batch_size=batch_size,
                     verbose=0, callbacks=[callback], **kwargs)


def test_one_output_per_fit_updated_every_epoch(notebook):
    live = LivePlot()
    history = fit(live, epochs=3)
    assert len(notebook.outputs) == 1
    images = notebook.outputs[0]
    assert len(images) == 3 and live.redraws == 3
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
    assert live.epoch == [0, 1, 2]
    assert sorted(live.history) == sorted(history.history)
    np.testing.assert_allclose(live.history["val_loss"], history.history["val_loss"])


def test_batch_redraws_every_batch_freq_batches(notebook):
    # 48 samples in batches of 8: batches 0..5, redrawn at 0, 2 and 4,
    # then at the epoch end.
    live = LivePlot(batch_freq=2, min_interval_s=0, max_overhead=None)
    fit(live, epochs=2)
    assert len(notebook.outputs) == 1
    assert live.redraws == len(notebook.outputs[0]) == 2 * (3 + 1)


def test_batch_redraws_faster_than_min_interval_are_skipped(notebook):
    live = LivePlot(batch_freq=1, min_interval_s=3600)
    fit(live, epochs=2)
    # The first batch redraw, then only the epoch ends, which always redraw.
    assert live.redraws == 1 + 2


def test_batch_redraws_are_capped_to_a_fraction_of_the_time(notebook):
    # A redraw takes tens of milliseconds and a batch of the tiny model less
    # than one: at 1%, no batch redraw may follow another within a fit.
    live = LivePlot(batch_freq=1, min_interval_s=0, max_overhead=0.01)
    fit(live, epochs=2)
    assert live.redraws == 1 + 2


@pytest.mark.slow
def test_one_instance_serves_two_fits(notebook):
    live = LivePlot(batch_freq=3, min_interval_s=0, max_overhead=None)
    fit(live, epochs=2)
    fit(live, epochs=3, initial_epoch=1)
    assert len(notebook.outputs) == 2
    # The second fit's curves start afresh, at its own epochs.
    assert live.epoch == [1, 2]
    assert live.redraws == len(notebook.outputs[1]) == 2 * (2 + 1)


def test_outside_a_notebook_it_warns_once_and_draws_nothing(monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    displayed = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: displayed.append(a))
    live = LivePlot(batch_freq=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(live, epochs=2)
        fit(live, epochs=1)
    assert_warned_once(record, "LivePlot", "not running in a Jupyter kernel")
    assert displayed == [] and live.redraws == 0 and live.history == {}
    assert live.figure() is None


def test_a_terminal_ipython_is_not_a_notebook(monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(LivePlot(), epochs=1)
    assert_warned_once(record, "LivePlot", "HistoryPlotter or TensorBoard")


def test_custom_loop_with_tensor_logs(notebook):
    model, x, y = tiny_classifier()
    live = LivePlot(batch_freq=2, min_interval_s=0, max_overhead=None)
    train_with_callback_list(model, [live], x, y, epochs=2, validate=True)
    assert live.epoch == [0, 1]
    assert sorted(live.history) == ["loss", "val_loss"]
    assert all(math.isfinite(v) for v in live.history["loss"])
    # No `steps` in a custom loop's params: batch redraws still happen.
    assert live.redraws == len(notebook.outputs[0]) == 2 * (3 + 1)


@pytest.mark.slow
def test_long_history_is_thinned_to_max_points(notebook):
    live = LivePlot(max_points=10)
    live.on_train_begin()
    for epoch in range(25):
        live.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1)})
    lines = live.figure().axes[0].get_lines()
    for line in lines:
        x = line.get_xdata()
        assert len(x) == 10 and x[0] == 0 and x[-1] == 24
    assert len(live.epoch) == 25 and live.redraws == 25


def test_metrics_selects_axes_and_warns_once_about_unlogged(notebook):
    live = LivePlot(metrics=["accuracy", "auc"])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(live, epochs=2)
    assert_warned_once(record, "LivePlot", "['auc']")
    assert [axes.get_title() for axes in live.figure().axes] == ["accuracy"]
    assert live.redraws == 2


def test_shows_nothing_until_a_metric_is_logged(notebook):
    live = LivePlot(metrics=["accuracy"])
    live.on_train_begin()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        live.on_epoch_end(0, {"loss": 1.0})
    assert notebook.outputs == [] and live.redraws == 0
    assert_warned_once(record, "LivePlot", "['accuracy']. Logged: ['loss']")


def test_deep_copy_for_keras_tuner_is_a_fresh_callback(notebook):
    live = LivePlot(batch_freq=2)
    fit(live, epochs=1)
    clone = copy.deepcopy(live)
    fit(clone, epochs=1)
    assert len(notebook.outputs) == 2 and clone.redraws >= 1


def test_no_warnings_in_a_notebook(notebook):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(LivePlot(), epochs=1)
    assert own_warnings(record, "LivePlot") == []


@pytest.mark.parametrize("kwargs, message", [
    ({"metrics": 3}, "`metrics` must be None, a string or a non-empty sequence of strings, received: 3"),
    ({"batch_freq": 0}, "`batch_freq` must be a positive integer or None, received: 0"),
    ({"batch_freq": "epoch"}, "`batch_freq` must be a positive integer or None, received: 'epoch'"),
    ({"min_interval_s": -1}, "`min_interval_s` must be a number of seconds >= 0, received: -1"),
    ({"min_interval_s": float("nan")}, "`min_interval_s` must be a number of seconds >= 0, received: nan"),
    ({"max_overhead": 0}, "`max_overhead` must be None or a fraction in (0, 1], received: 0"),
    ({"max_overhead": 1.5}, "`max_overhead` must be None or a fraction in (0, 1], received: 1.5"),
    ({"max_points": 1}, "`max_points` must be an integer >= 2, received: 1"),
    ({"log_scale": "yes"}, "`log_scale` must be one of 'auto', True, False, received: 'yes'"),
    ({"dpi": 0}, "`dpi` must be a positive integer, received: 0"),
])
def test_invalid_arguments_fail_in_init(kwargs, message):
    error = TypeError if "metrics" in kwargs else ValueError
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        LivePlot(**kwargs)
