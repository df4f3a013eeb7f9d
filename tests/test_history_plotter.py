"""Tests for `plot_history` and `HistoryPlotter` (callbacks.history_plotter)."""

import errno
import os
import re
import threading
import warnings
from unittest import mock

import keras
import matplotlib.image
import numpy as np
import pytest
from events import images, load
from helpers import (
    mirrored_strategy,
    not_chief,
    own_warnings,
    tiny_classifier,
    tiny_classifier_build,
    train_with_callback_list,
    tuner_search,
)
from matplotlib.figure import Figure

from keras_tb_toolkit.callbacks import HistoryPlotter, LogDirError, plot_history
from keras_tb_toolkit.callbacks import _figures
from keras_tb_toolkit.callbacks.history_plotter import _history

# Two metrics (loss, accuracy) side by side: 2 x 4 by 3 inches at 100 dpi.
TWO_PANELS = (300, 800, 4)


def fit(callback, epochs=3, **kwargs):
    model, x, y = tiny_classifier()
    model.fit(x, y, validation_data=(x, y), epochs=epochs, batch_size=16,
              verbose=0, callbacks=[callback], **kwargs)
    return model


def plot_files(log_dir):
    return sorted(os.listdir(os.path.join(log_dir, "plots")))


# plot_history: the pure drawing function.

def test_plot_history_one_axes_per_metric_with_log_loss():
    figure = plot_history({
        "loss": [10.0, 1.0, 0.1],
        "val_loss": [12.0, 2.0, 0.3],
        "accuracy": [0.1, 0.5, 0.9],
        "val_accuracy": [0.1, 0.4, 0.8],
    })
    assert isinstance(figure, Figure)
    assert [axes.get_title() for axes in figure.axes] == ["loss", "accuracy"]
    assert [axes.get_yscale() for axes in figure.axes] == ["log", "linear"]
    for axes in figure.axes:
        assert [line.get_label() for line in axes.get_lines()] == [
            "train", "validation"]
        np.testing.assert_array_equal(axes.get_lines()[0].get_xdata(),
                                      [0, 1, 2])


@pytest.mark.parametrize("loss, log_scale, expected", [
    ([2.0, 1.0, 0.5], "auto", "linear"),  # Within a decade.
    ([2.0, 1.0, 0.5], True, "log"),
    ([10.0, 1.0, 0.1], False, "linear"),
    ([10.0, 1.0, -0.1], True, "linear"),  # Not positive.
    ([10.0, 0.0, 0.1], "auto", "linear"),
])
def test_plot_history_log_scale_rule(loss, log_scale, expected):
    figure = plot_history({"loss": loss}, log_scale=log_scale)
    assert figure.axes[0].get_yscale() == expected


def test_plot_history_only_loss_like_metrics_get_log_scale():
    figure = plot_history({"accuracy": [0.01, 0.5, 0.99],
                           "mse_loss": [100.0, 1.0, 0.1]})
    assert [(a.get_title(), a.get_yscale()) for a in figure.axes] == [
        ("accuracy", "linear"), ("mse_loss", "log")]


def test_plot_history_takes_a_keras_history_and_selects_metrics():
    model, x, y = tiny_classifier()
    history = model.fit(x, y, validation_data=(x, y), epochs=2,
                        initial_epoch=0, verbose=0)
    figure = plot_history(history, metrics=["accuracy"], title="run 1")
    assert [axes.get_title() for axes in figure.axes] == ["accuracy"]
    assert figure.get_suptitle() == "run 1"
    lines = figure.axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(),
                               history.history["val_accuracy"])


def test_plot_history_grid_and_missing_values():
    figure = plot_history(
        {"loss": [3.0, 2.0, 1.0, 0.5], "val_loss": [3.0, None, 1.5],
         "a": [1, 2, 3, 4], "b": [1, 2, 3, 4], "val_c": [1, 2, 3, 4]},
        epochs=[5, 6, 7, 8],
    )
    assert [axes.get_title() for axes in figure.axes] == ["loss", "a", "b",
                                                          "c"]
    assert tuple(figure.get_size_inches()) == (12.0, 6.0)  # 3 columns, 2 rows
    train, validation = figure.axes[0].get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [5, 6, 7, 8])
    # The missing epoch and the end of the shorter series are skipped.
    np.testing.assert_array_equal(validation.get_xdata(), [5, 7])
    assert [l.get_label() for l in figure.axes[3].get_lines()] == [
        "validation"]


def test_non_finite_values_are_marked_not_hidden():
    figure = plot_history({"loss": [2.0, 1.0, float("nan"), float("inf")],
                           "val_loss": [2.5, None, 1.2, 1.1]})
    axes = figure.axes[0]
    train, validation = axes.get_lines()[:2]
    np.testing.assert_array_equal(train.get_xdata(), [0, 1])
    np.testing.assert_array_equal(validation.get_xdata(), [0, 2, 3])
    marks = [l.get_xdata()[0] for l in axes.get_lines() if l.get_gid() == "nonfinite"]
    assert marks == [2, 3]
    [note] = [t.get_text() for t in axes.texts]
    assert note == "train nan at epoch 2\ntrain inf at epoch 3"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"history": [1.0, 2.0]}, TypeError,
     r"`history` must be a dict .* received: \[1.0, 2.0\]"),
    ({"history": {}}, ValueError, "`history` must hold at least one value"),
    ({"history": {"loss": []}}, ValueError, "at least one value"),
    ({"history": {"loss": ["a"]}}, TypeError,
     r"`history\['loss'\]` must be a sequence of numbers"),
    ({"history": {"loss": [1.0], "val_acc": [1.0]}, "metrics": ["accuracy"]},
     ValueError, r"not in `history`: \['accuracy'\]. "
                 r"Available: \['loss', 'acc'\]"),
    ({"history": {"loss": [1.0, 2.0]}, "epochs": [0]}, ValueError,
     "`epochs` must be a 1-D sequence of at least 2 epoch numbers"),
    ({"history": {"loss": [1.0]}, "log_scale": "yes"}, ValueError,
     "`log_scale` must be one of 'auto', True, False, received: 'yes'"),
    ({"history": {"loss": [1.0]}, "dpi": 0}, ValueError,
     "`dpi` must be a positive integer, received: 0"),
    ({"history": {"val_": [1]}}, ValueError,
     r"`history` must name at least one metric \(a key other than 'val_'\), "
     r"received keys: \['val_'\]"),
    ({"history": {"loss": [1.0]}, "log_scale": 1}, ValueError,
     "`log_scale` must be one of 'auto', True, False, received: 1"),
])
def test_plot_history_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_history(**kwargs)


# HistoryPlotter: the callback.

def test_fit_writes_images_every_freq_epochs_and_files(tmp_path):
    log_dir = str(tmp_path)
    plotter = HistoryPlotter(log_dir, freq=2)
    assert not os.listdir(log_dir)  # Nothing written by the constructor.
    fit(plotter, epochs=3, validation_freq=2)
    assert sorted(os.listdir(log_dir)) == ["plots", "train"]
    written = images(os.path.join(log_dir, "train"))
    assert set(written) == {"history"}
    assert [step for step, _ in written["history"]] == [0, 2]
    assert all(image.shape == TWO_PANELS for _, image in written["history"])
    assert len(load(os.path.join(log_dir, "train")).Tags()["tensors"]) == 1
    assert plot_files(log_dir) == ["history.png", "history.svg"]
    png = matplotlib.image.imread(os.path.join(log_dir, "plots",
                                               "history.png"))
    assert png.shape == TWO_PANELS
    with open(os.path.join(log_dir, "plots", "history.svg")) as svg:
        assert "<svg" in svg.read()
    assert plotter.epoch == [0, 1, 2]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(
        plotter.history)
    # Validated at epoch 1 only: None elsewhere, skipped when drawn.
    assert [v is None for v in plotter.history["val_loss"]] == [True, False, True]


def test_freq_0_writes_no_image_and_files_can_be_drawn_after_fit(tmp_path):
    log_dir = str(tmp_path)
    plotter = HistoryPlotter(log_dir, freq=0, formats="png", wait_for_files=False)
    drawing = threading.Event()
    release = threading.Event()
    save = _figures.save_figure

    def held_save(figure, path):
        drawing.set()
        assert release.wait(30)
        save(figure, path)

    with mock.patch.object(_figures, "save_figure", held_save):
        fit(plotter, epochs=2)
        # fit returned while the worker draws the file.
        assert drawing.wait(30)
        assert not os.path.exists(os.path.join(log_dir, "plots", "history.png"))
        release.set()
        plotter.wait()
    assert plot_files(log_dir) == ["history.png"]
    png = matplotlib.image.imread(os.path.join(log_dir, "plots", "history.png"))
    assert png.shape == TWO_PANELS
    assert os.listdir(log_dir) == ["plots"]  # No image, so no events file.


def test_two_fits_continue_the_curves_without_duplicate_steps(tmp_path):
    log_dir = str(tmp_path)
    plotter = HistoryPlotter(log_dir, formats="png")
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[plotter])
    first = os.stat(os.path.join(log_dir, "plots", "history.png"))
    # The second fit starts at epoch 0 again: its epochs are renumbered.
    model.fit(x, y, epochs=2, verbose=0, callbacks=[plotter])
    # A fit passing `initial_epoch` past the recorded ones keeps its numbers.
    model.fit(x, y, initial_epoch=5, epochs=6, verbose=0,
              callbacks=[plotter])
    steps = [step for step, _ in images(os.path.join(log_dir,
                                                     "train"))["history"]]
    assert steps == [0, 1, 2, 3, 5]
    assert plotter.epoch == [0, 1, 2, 3, 5]
    assert len(plotter.history["loss"]) == 5
    assert plot_files(log_dir) == ["history.png"]  # Replaced, no temp file.
    assert os.stat(os.path.join(log_dir, "plots",
                                "history.png")).st_mtime_ns >= first.st_mtime_ns


def test_unknown_metrics_warn_once_listing_available(tmp_path):
    plotter = HistoryPlotter(str(tmp_path), metrics=["loss", "f1"])
    with pytest.warns(UserWarning) as caught:
        fit(plotter, epochs=2)
    messages = own_warnings(caught, "HistoryPlotter")
    assert messages == [
        "HistoryPlotter: `metrics` names metrics that were not logged: "
        "['f1']. Available: ['loss', 'accuracy']"
    ]
    written = images(os.path.join(str(tmp_path), "train"))["history"]
    assert [step for step, _ in written] == [0, 1]
    assert written[0][1].shape == (300, 400, 4)  # Only the loss panel.


def test_no_known_metric_writes_nothing_and_does_not_crash(tmp_path):
    plotter = HistoryPlotter(str(tmp_path), metrics="f1")
    with pytest.warns(UserWarning, match=r"not logged: \['f1'\]"):
        fit(plotter, epochs=2)
    assert not os.path.exists(os.path.join(str(tmp_path), "plots"))
    assert not os.path.exists(os.path.join(str(tmp_path), "train"))


def test_plots_under_a_file_fail_before_training(tmp_path):
    (tmp_path / "plots").write_text("a file, not a directory")
    plots = re.escape(repr(os.path.join(str(tmp_path), "plots")))
    with pytest.raises(LogDirError, match=f"Log directory {plots} is not "
                       "writable: File exists"):
        fit(HistoryPlotter(str(tmp_path)), epochs=1)


def test_a_plot_that_cannot_be_saved_at_the_end_is_an_error(tmp_path, monkeypatch):
    def full_disk(figure, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_figures, "save_figure", full_disk)
    path = re.escape(repr(os.path.join(str(tmp_path), "plots", "history.png")))
    with pytest.raises(LogDirError, match=f"HistoryPlotter could not save {path}: "
                       "No space left on device; a history.png saved there "
                       "before is left whole.$"):
        fit(HistoryPlotter(str(tmp_path)), epochs=1)


def test_gradient_tape_loop_with_callback_list(tmp_path):
    log_dir = str(tmp_path)
    model, x, y = tiny_classifier()
    model.optimizer.build(model.trainable_variables)
    train_with_callback_list(model, [HistoryPlotter(log_dir, formats="svg")],
                             x, y, epochs=3, batch_size=16, validate=True)
    written = images(os.path.join(log_dir, "train"))
    assert [step for step, _ in written["history"]] == [0, 1, 2]
    assert written["history"][0][1].shape == (300, 400, 4)  # Loss only.
    assert plot_files(log_dir) == ["history.svg"]


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    log_dir = str(tmp_path / "run")
    plotter = HistoryPlotter(log_dir)
    _, x, y = tiny_classifier()
    tuner_search(tmp_path / "tuner", tiny_classifier_build, x, y, plotter,
                 max_trials=1, epochs=2, validation_data=(x, y))
    assert plotter.epoch == []  # The tuner trained a deep copy.
    written = images(os.path.join(log_dir, "train"))
    assert [step for step, _ in written["history"]] == [0, 1]
    assert plot_files(log_dir) == ["history.png", "history.svg"]


def test_mirrored_strategy_writes_each_step_once(tmp_path):
    log_dir = str(tmp_path)
    with mirrored_strategy().scope():
        model, x, y = tiny_classifier()
    model.fit(x, y, epochs=2, batch_size=24, verbose=0,
              callbacks=[HistoryPlotter(log_dir, formats="png")])
    written = images(os.path.join(log_dir, "train"))
    assert set(written) == {"history"}
    assert [step for step, _ in written["history"]] == [0, 1]
    assert plot_files(log_dir) == ["history.png"]


def test_only_the_chief_writes(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    fit(HistoryPlotter(str(tmp_path)), epochs=1)
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
    ({"freq": -1}, ValueError, "`freq` must be an integer >= 0, "
                               "received: -1"),
    ({"freq": "2"}, ValueError, "`freq` must be an integer >= 0, "
                                "received: '2'"),
    ({"freq": True}, ValueError, "`freq` must be an integer >= 0"),
    ({"wait_for_files": "no"}, TypeError,
     "`wait_for_files` must be True or False, received: 'no'"),
    ({"metrics": [1]}, TypeError, "`metrics` must be None, a string or a "
                                  "non-empty sequence of strings"),
    ({"log_scale": "log"}, ValueError, "`log_scale` must be one of 'auto', "
                                       "True, False, received: 'log'"),
    ({"formats": ["png", "gif"]}, ValueError,
     "`formats` must be one of 'png', 'svg', 'pdf', received: 'gif'"),
    ({"formats": 5}, TypeError, "`formats` must be None, a string"),
    ({"dpi": -1}, ValueError, "`dpi` must be a positive integer, "
                              "received: -1"),
])
def test_constructor_errors(tmp_path, kwargs, error, match):
    kwargs = {"log_dir": str(tmp_path), **kwargs}
    with pytest.raises(error, match=match):
        HistoryPlotter(**kwargs)


def test_log_dir_that_is_a_file_is_rejected(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(ValueError, match="`log_dir` must be a directory"):
        HistoryPlotter(path)


def test_non_numeric_logs_are_skipped(tmp_path):
    plotter = HistoryPlotter(str(tmp_path), formats=None)
    model, _, _ = tiny_classifier()
    callbacks = keras.callbacks.CallbackList([plotter], model=model)
    callbacks.on_train_begin()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callbacks.on_epoch_end(0, {"loss": np.float32(1.5), "note": "text",
                                   "vector": np.ones(3)})
    callbacks.on_train_end()
    assert plotter.history == {"loss": [1.5]}
    assert os.listdir(str(tmp_path)) == ["train"]


def test_consecutive_runs_share_a_figure_and_match_fresh_ones(tmp_path):
    """Runs with the same layout (a search's trials) redraw one kept figure;
    each file is pixel for pixel the figure `plot_history` draws anew, so
    nothing of an earlier run (its NaN marks, its axis limits) is left."""
    model, _, _ = tiny_classifier()
    runs = [
        {"loss": [2.0, np.nan, 0.5], "val_loss": [2.5, 1.0, 0.7]},
        {"loss": [0.3, 0.2, 0.1], "val_loss": [0.4, 0.35, 0.3]},
        {"loss": [9.0, 8.0, 7.5], "val_loss": [9.5, 9.0, 8.0]},
    ]
    drawn = []
    built = mock.Mock(wraps=_history.history_axes)
    for index, history in enumerate(runs):
        log_dir = str(tmp_path / f"run{index}")
        plotter = HistoryPlotter(log_dir, freq=0, formats="png", log_scale=False)
        plotter.set_model(model)
        plotter.on_train_begin()
        for epoch in range(3):
            plotter.on_epoch_end(epoch, {k: v[epoch] for k, v in history.items()})
        with mock.patch.object(_history, "history_axes", built):
            plotter.on_train_end()
        drawn.append(matplotlib.image.imread(os.path.join(log_dir, "plots", "history.png")))
    for index, history in enumerate(runs):
        fresh = str(tmp_path / f"fresh{index}.png")
        plot_history(history, log_scale=False).savefig(fresh)
        np.testing.assert_array_equal(drawn[index], matplotlib.image.imread(fresh))
    assert not np.array_equal(drawn[1], drawn[2])
    assert built.call_count <= 1  # Built at most once (kept from an earlier test).
