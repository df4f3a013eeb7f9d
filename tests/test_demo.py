"""`ktb demo` fills every dashboard: checked against a real TensorBoard server."""

import dataclasses
import json
import os
import urllib.request

import pytest

from helpers import get_json, poll_json
from keras_tb_toolkit.toolkit import board, cli
from keras_tb_toolkit.toolkit.config import API_STYLES
from keras_tb_toolkit.toolkit.demo import DemoConfig, run_demo

QUICK = DemoConfig(epochs=1, trials=2, search_epochs=1, limit=256)
DASHBOARDS = ("scalars", "images", "histograms", "distributions", "graphs", "text",
              "hparams", "projector")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logs")
    lines = []
    result = run_demo(dataclasses.replace(QUICK, logdir=str(logdir)), progress=lines.append)
    return result, lines


def post_json(url, body, timeout=10):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def test_demo_reports_each_stage(demo):
    result, lines = demo
    assert lines[0] == "[1/4] training sequential for 1 epochs ..."
    assert sum(line.startswith("[") for line in lines) == 4
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

        scalars = get_json(url + "data/plugin/scalars/tags")
        for api in API_STYLES:
            assert {"epoch_loss", "epoch_accuracy", "gradient_norm"} <= set(scalars[f"{api}/run/train"])
            assert {"epoch_loss", "epoch_accuracy", "precision/0", "recall/9"} <= set(scalars[f"{api}/run/validation"])

        images = get_json(url + "data/plugin/images/tags")
        for api in API_STYLES:
            assert "history" in images[f"{api}/run/train"]
            assert "confusion_matrix" in images[f"{api}/run/validation"]

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
            assert "model/summary" in text[f"{api}/run/train"]
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
    result = run_demo(dataclasses.replace(QUICK, logdir=str(tmp_path)), progress=lambda line: None)
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
