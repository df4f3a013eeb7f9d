"""Tests for `callbacks.layout_writer.LayoutWriter`."""

import json
import os
import re

import keras
import pytest
from events import load, plugin_context, plugin_tensors, summary_rows
from helpers import (
    mirrored_strategy,
    not_chief,
    tiny_classifier,
    tiny_classifier_build,
    train_with_callback_list,
    tuner_search,
)
from tensorboard import context as tb_context
from tensorboard.plugins.custom_scalar import custom_scalars_plugin
from tensorboard.plugins.custom_scalar import layout_pb2

from keras_tb_toolkit.callbacks import HistogramLogger, LayoutWriter

TAG = "custom_scalars__config__"
OPTIMISATION = {
    "gradient_norm and learning_rate": [r"^gradient_norm$",
                                        r"^epoch_learning_rate$"],
    "update_ratio per layer": [r"^update_ratio/"],
}


def layouts(log_dir):
    """[(step, {category: {chart: [regexes]}})] written to `train/`."""
    written = plugin_tensors(os.path.join(log_dir, "train"), "custom_scalars")
    assert set(written) == {TAG}
    return [(step, charts(layout_pb2.Layout.FromString(data.item())))
            for step, data in written[TAG]]


def charts(layout):
    return {category.title: {chart.title: list(chart.multiline.tag)
                             for chart in category.chart}
            for category in layout.category}


def expected(*metrics):
    return {
        "train and validation": {m: [rf"^epoch_{m}$"] for m in metrics},
        "optimisation": OPTIMISATION,
    }


def test_fit_charts_each_metric_train_and_validation_together(tmp_path):
    log_dir = str(tmp_path)
    model, x, y = tiny_classifier()  # Compiled with metrics=["accuracy"].
    logger = LayoutWriter(log_dir)
    assert not os.listdir(log_dir)  # Nothing before training.
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
              callbacks=[logger])
    # Keras builds "accuracy" at the first step: the layout of train begin
    # knows only the loss, the first epoch's logs complete it.
    assert layouts(log_dir) == [(0, expected("loss")),
                                (1, expected("loss", "accuracy"))]


def test_the_regexes_match_the_tags_keras_and_histogram_logger_write(
        tmp_path):
    log_dir = str(tmp_path)
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[
        keras.callbacks.TensorBoard(log_dir, write_graph=False),
        HistogramLogger(log_dir, activations=False, weights=False),
        LayoutWriter(log_dir),
    ])
    tags = {run: set(load(os.path.join(log_dir, run)).Tags()["tensors"])
            for run in ("train", "validation")}
    layout = layouts(log_dir)[-1][1]
    for category in layout.values():
        for title, regexes in category.items():
            for regex in regexes:
                matched = {run for run, names in tags.items()
                           if any(re.search(regex, tag) for tag in names)}
                # Metrics in both runs; optimisation tags in train/ only.
                assert matched == ({"train", "validation"} if title in (
                    "loss", "accuracy") else {"train"}), (title, regex)
    update_ratios = [t for t in tags["train"] if t.startswith("update_ratio/")]
    assert update_ratios  # One per layer, all on one chart.


def test_tensorboard_custom_scalars_dashboard_serves_the_layout(tmp_path):
    log_dir = str(tmp_path)
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        LayoutWriter(log_dir, metrics=["loss", "accuracy"])])
    plugin = custom_scalars_plugin.CustomScalarsPlugin(plugin_context(log_dir))
    served = json.loads(plugin.layout_impl(tb_context.RequestContext(), ""))
    assert [c["title"] for c in served["category"]] == [
        "train and validation", "optimisation"]
    assert [chart["multiline"]["tag"] for chart in served["category"][0][
        "chart"]] == [[r"^epoch_loss$"], [r"^epoch_accuracy$"]]


def test_given_metrics_are_written_once_at_train_begin(tmp_path):
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        LayoutWriter(str(tmp_path), metrics="loss")])
    assert layouts(str(tmp_path)) == [(0, expected("loss"))]


def test_gradient_tape_loop_with_callback_list(tmp_path):
    model, x, y = tiny_classifier()
    train_with_callback_list(model, [LayoutWriter(str(tmp_path))], x, y,
                             validate=True)
    # The loop's logs hold `loss` and `val_loss`: nothing new after epoch 0.
    assert layouts(str(tmp_path)) == [(0, expected("loss"))]


def test_mirrored_strategy_writes_one_layout(tmp_path):
    with mirrored_strategy().scope():
        model, x, y = tiny_classifier()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[LayoutWriter(str(tmp_path), metrics=["loss"])])
    assert layouts(str(tmp_path)) == [(0, expected("loss"))]


def test_one_instance_serves_two_fits(tmp_path):
    model, x, y = tiny_classifier()
    logger = LayoutWriter(str(tmp_path))
    for _ in range(2):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    rows = summary_rows(os.path.join(str(tmp_path), "train"))
    # Each fit writes its own layout, at steps that keep growing so the
    # newest is the one TensorBoard shows; the second fit's model has built
    # its metrics before training begins.
    assert [(tag, step) for _, tag, step, _ in rows] == [
        (TAG, 0), (TAG, 1), (TAG, 2)]
    assert len({path for path, *_ in rows}) == 2
    assert layouts(str(tmp_path))[-1][1] == expected("loss", "accuracy")


def test_keras_tuner_search(tmp_path):
    log_dir = str(tmp_path / "run")
    _, x, y = tiny_classifier()
    tuner_search(tmp_path / "tuner", tiny_classifier_build, x, y,
                 LayoutWriter(log_dir, metrics=["loss", "accuracy"]),
                 max_trials=1)
    assert layouts(log_dir) == [(0, expected("loss", "accuracy"))]


def test_only_the_chief_writes(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[LayoutWriter(str(tmp_path))])
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
    ({"metrics": [1]}, TypeError,
     "`metrics` must be None, a string or a non-empty sequence of strings, "
     r"received: \[1\]"),
    ({"metrics": ["loss", "loss"]}, ValueError,
     r"`metrics` must not repeat a name, received: \['loss', 'loss'\]"),
    ({"metrics": ["loss", "learning_rate"]}, ValueError,
     r"`metrics` must name model metrics, not \['learning_rate'\] \(the "
     r"learning rate has its own chart\)"),
])
def test_constructor_errors(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        LayoutWriter(**{"log_dir": str(tmp_path), **kwargs})
