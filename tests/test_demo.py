"""`ktb demo` fills every dashboard: checked against a real TensorBoard server."""

import dataclasses
import glob
import io
import json
import os
import re
import urllib.parse
import urllib.request

import pytest

from helpers import get_json, poll_json
from keras_tb_toolkit.toolkit import _demo_progress, board, cli
from keras_tb_toolkit.toolkit._demo_progress import Progress
from keras_tb_toolkit.toolkit.config import API_STYLES
from keras_tb_toolkit.toolkit.demo import DemoConfig, run_demo

QUICK = DemoConfig(epochs=1, trials=2, search_epochs=1, limit=256)
DASHBOARDS = ("scalars", "custom_scalars", "images", "pr_curves", "histograms",
              "distributions", "graphs", "text", "hparams", "projector")
CLASSES = [str(c) for c in range(10)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logs")
    out = io.StringIO()  # not a terminal: one line per item
    result = run_demo(dataclasses.replace(QUICK, logdir=str(logdir)),
                      progress=Progress(QUICK.total_epochs, stream=out))
    return result, out.getvalue().splitlines()


def post_json(url, body, timeout=10):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


@pytest.mark.slow
def test_demo_reports_each_stage_and_each_epoch_with_the_time_left(demo):
    result, lines = demo
    number = r"\d+"
    expected = []
    for stage, api in enumerate(API_STYLES, start=1):
        expected += [
            re.escape(f"[{stage}/4] training {api} for 1 epochs ..."),
            rf"\[{stage}/4\] {api}: epoch 1/1, {number} s, about {number} s left",
            rf"      {api}: test accuracy [01]\.\d{{4}} \({number} s\)",
        ]
    expected += [
        re.escape("[4/4] searching the all-styles space, 2 trials of 1 epochs ..."),
        rf"\[4/4\] search: trial 1/2: epoch 1/1, {number} s, about {number} s left",
        rf"\[4/4\] search: trial 2/2: epoch 1/1, {number} s, about 0 s left",
        rf"      best trial {number}: val_accuracy [01]\.\d{{4}} \({number} s\)",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert set(result.accuracies) == set(API_STYLES)
    assert os.path.basename(result.demo_dir).startswith("demo-")
    assert result.search_dir == os.path.join(result.demo_dir, "search")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_dashboard_has_data_in_a_real_tensorboard(demo):
    result, _ = demo
    url, stop = board.start(result.demo_dir, reload_interval=0)
    try:
        style_runs = {f"{api}/run/{split}" for api in API_STYLES for split in ("train", "validation")}
        runs = poll_json(url + "data/runs", lambda runs: style_runs <= set(runs), deadline_s=120)
        trial_runs = {r for r in runs if r.startswith("search/trial_")}
        assert trial_runs, runs

        # The projector decides it is active in a background thread: poll.
        listing = poll_json(
            url + "data/plugins_listing",
            lambda listing: all(listing[name]["enabled"] for name in DASHBOARDS),
            deadline_s=60,
        )
        for name in DASHBOARDS:
            assert listing[name]["enabled"] is True, (name, listing[name])

        style_train = {f"{api}/run/train" for api in API_STYLES}
        style_validation = {f"{api}/run/validation" for api in API_STYLES}
        per_class = {f"{m}/{c}" for m in ("precision", "recall") for c in CLASSES}
        scalars = get_json(url + "data/plugin/scalars/tags")
        for api in API_STYLES:
            train = set(scalars[f"{api}/run/train"])
            assert {tag for tag in train if not tag.startswith("update_ratio/")} == {
                "epoch_loss", "epoch_accuracy", "epoch_learning_rate",
                "epoch_steps_per_second", "epoch_examples_per_second", "gradient_norm",
                "model/params/trainable", "model/params/non_trainable", "model/params/total",
            }, api
            assert any(tag.startswith("update_ratio/") for tag in train), api
            assert set(scalars[f"{api}/run/validation"]) == {
                "epoch_loss", "epoch_accuracy", *per_class}, api

        # The layout LayoutWriter writes, and the curves its regexes select.
        layout = get_json(url + "data/plugin/custom_scalars/layout")
        assert {category["title"]: [chart["title"] for chart in category["chart"]]
                for category in layout["category"]} == {
            "train and validation": ["loss", "accuracy"],
            "optimisation": ["gradient_norm and learning_rate", "update_ratio per layer"],
        }
        for run in style_train | style_validation:
            query = urllib.parse.urlencode({"run": run, "tag": "^epoch_loss$"})
            chart = get_json(url + "data/plugin/custom_scalars/scalars?" + query)
            assert chart["regex_valid"] is True
            assert list(chart["tag_to_events"]) == ["epoch_loss"], run
            assert len(chart["tag_to_events"]["epoch_loss"]) == QUICK.epochs, run

        images = get_json(url + "data/plugin/images/tags")
        for api in API_STYLES:
            assert set(images[f"{api}/run/train"]) == {"history", "grad_cam"}, api
            assert set(images[f"{api}/run/validation"]) == {"confusion_matrix", "mistakes"}, api

        # One curve per class, on the validation runs only; the search's
        # trials write the light set, its inspected best run the full one.
        pr_curves = get_json(url + "data/plugin/pr_curves/tags")
        assert {r for r in pr_curves if not r.startswith("search/")} == style_validation
        assert {r for r in pr_curves if r.startswith("search/")} <= {"search/best/validation"}
        for run, tags in pr_curves.items():
            assert set(tags) == {f"pr_curve/{c}/pr_curves" for c in CLASSES}, run
            assert tags["pr_curve/3/pr_curves"]["displayName"] == "3 vs. rest"

        traces = glob.glob(os.path.join(result.demo_dir, "*", "run", "train", "plugins",
                                        "profile", "*", "*.xplane.pb"))
        if result.profiled:
            assert len(traces) == len(API_STYLES), traces
            assert listing["profile"]["enabled"] is True
        else:
            assert traces == []

        for plugin in ("histograms", "distributions"):
            tags = get_json(url + f"data/plugin/{plugin}/tags")
            for api in API_STYLES:
                prefixes = {tag.split("/")[0] for tag in tags[f"{api}/run/train"]}
                assert {"weights", "gradients", "activations"} <= prefixes, (plugin, api)
            assert any(run in tags for run in {r for r in trial_runs if r.endswith("/train")})

        graphs = get_json(url + "data/plugin/graphs/info")
        for api in API_STYLES:
            assert graphs[f"{api}/run/train"]["run_graph"] is True, api

        text = get_json(url + "data/plugin/text/tags")
        for api in API_STYLES:
            assert text[f"{api}/run/train"] == ["model/summary"]
            assert text[f"{api}/run/validation"] == ["mistakes_table"]
        assert "leaderboard" in text["search"]

        experiment = post_json(url + "data/plugin/hparams/experiment", {"experimentName": ""})
        declared = {info["name"]: info for info in experiment["hparamInfos"]}
        assert set(declared["api"]["domainDiscrete"]) == set(API_STYLES)
        assert declared["learning_rate"]["domainInterval"] == {"minValue": 1e-4, "maxValue": 1e-2}
        groups = post_json(url + "data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [], "startIndex": 0, "sliceSize": 100,
        })
        assert groups["totalSize"] == QUICK.trials

        projector = get_json(url + "data/plugin/projector/runs")
        assert {f"{api}/run/train" for api in API_STYLES} <= set(projector)
    finally:
        stop()


def test_a_demo_started_in_the_same_second_never_clobbers_the_first(tmp_path, monkeypatch):
    """The second demo's name would be the first's: it gets a suffix instead.

    Training and searching are stood in for: what is tested is where the
    demo writes, not what it writes there.
    """
    import datetime
    import types

    from keras_tb_toolkit.toolkit import runs, training, tuning

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(runs.datetime, "datetime", Frozen)
    first = tmp_path / "demo-20260102-030405"
    (first / "sequential" / "run").mkdir(parents=True)
    marker = first / "sequential" / "run" / "keep.txt"
    marker.write_text("first demo")
    trained_in, searched_in = [], []

    def train(config, **kwargs):
        trained_in.append(config.logdir)
        return types.SimpleNamespace(test_accuracy=0.5)

    def run_search(arrays, *, logdir, name, **kwargs):
        searched_in.append(logdir)
        return tuning.SearchResult(os.path.join(logdir, name), None, [])

    monkeypatch.setattr(training, "train", train)
    monkeypatch.setattr(tuning, "run_search", run_search)
    result = run_demo(dataclasses.replace(QUICK, logdir=str(tmp_path)),
                      progress=Progress(QUICK.total_epochs, stream=io.StringIO()))
    second = str(tmp_path / "demo-20260102-030405-2")
    assert result.demo_dir == second
    assert trained_in == [second] * len(API_STYLES) and searched_in == [second]
    assert marker.read_text() == "first demo"
    assert sorted(os.listdir(tmp_path)) == ["demo-20260102-030405", "demo-20260102-030405-2"]


def test_demo_usage_errors_exit_2(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["demo", "--epochs", "0"]) == 2
    assert "argument --epochs: must be a positive integer, received: '0'" in capsys.readouterr().err
    assert cli.main(["demo", "--logdir", str(tmp_path / "file" / "logs")]) == 2
    assert "cannot be created" in capsys.readouterr().err


class Clock:
    """Stands in for `time.perf_counter` in `_demo_progress`: set by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_estimates_the_time_left_from_the_mean_epoch(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(_demo_progress.time, "perf_counter", clock)
    out = io.StringIO()
    progress = Progress(total_epochs=4, stream=out)
    assert progress.live is False and progress.seconds_left() is None
    clock.now += 10
    progress.epoch_done("[1/2] a", 1, 2)
    clock.now += 30
    progress.epoch_done("[1/2] a", 2, 2)
    assert out.getvalue().splitlines() == [
        "[1/2] a: epoch 1/2, 10 s, about 30 s left",
        "[1/2] a: epoch 2/2, 40 s, about 40 s left",
    ]


def test_on_a_terminal_items_overwrite_one_line_per_stage(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(_demo_progress.time, "perf_counter", clock)
    out = Terminal()
    progress = Progress(total_epochs=2, stream=out)
    assert progress.live is True
    progress.stage("[1/1] training sequential for 2 epochs ...")
    for epoch in (1, 2):
        clock.now += 5
        progress.epoch_done("[1/1] sequential", epoch, 2)
    progress.line("      sequential: test accuracy 0.5000 (10 s)")
    assert out.getvalue() == (
        "[1/1] training sequential for 2 epochs ...\n"
        "\r\033[K[1/1] sequential: epoch 1/2, 5 s, about 5 s left"
        "\r\033[K[1/1] sequential: epoch 2/2, 10 s, about 0 s left\n"
        "      sequential: test accuracy 0.5000 (10 s)\n"
    )


def test_epoch_counter_is_shared_by_the_copies_keras_tuner_makes():
    import copy

    progress = Progress(total_epochs=4, stream=io.StringIO())
    counter = _demo_progress.EpochCounter(progress, "[2/2] search", epochs=2, fits=2)
    assert copy.deepcopy(counter) is counter
    counter.on_train_begin()
    counter.on_epoch_end(0)
    counter.on_epoch_end(1)
    counter.on_train_end()
    counter.on_train_begin()
    counter.on_train_end()  # a trial that trained no epoch
    assert progress.epochs_done == 4
    lines = progress.stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "[2/2] search: trial 1/2: epoch 1/2", "[2/2] search: trial 1/2: epoch 2/2"]
