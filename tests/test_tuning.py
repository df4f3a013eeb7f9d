"""`ktb tune`: per-trial run directories, the HParams dashboard, resume, distribution.

The HParams dashboard is read back with the hparams plugin's own handlers
(`get_experiment`, `list_session_groups`) over TensorBoard's data provider,
i.e. what the dashboard would show; the winner's `best/` run through a real
TensorBoard server on 127.0.0.1.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings

import keras
import keras_tuner as kt
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment
from tensorboard.plugins.hparams import list_session_groups

import events
from helpers import get_json, poll_json
from keras_tb_toolkit.toolkit import board, data, search_spaces, tuning
from keras_tb_toolkit.toolkit.cli import main
from keras_tb_toolkit.toolkit.errors import ConfigError
from keras_tb_toolkit.toolkit.tuning import _hparams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--epochs", "1", "--limit", "128", "--batch-size", "64"]
BOUND_S = 240


def dashboard(search_dir):
    """(experiment, {group name: [(session name, status name, {metric tag: value})]})."""
    search_dir = str(search_dir)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(search_dir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, search_dir)
    backend = backend_context.Context(
        base_plugin.TBContext(logdir=search_dir, data_provider=provider, multiplexer=mux)
    )
    ctx = context.RequestContext()
    experiment = get_experiment.Handler(
        ctx, backend, "", api_pb2.GetExperimentRequest(include_metrics=True)
    ).run()
    request = api_pb2.ListSessionGroupsRequest(
        allowed_statuses=list(api_pb2.Status.values()), slice_size=1000, include_metrics=True,
    )
    for metric in experiment.metric_infos:
        request.col_params.add(metric=metric.name)
    groups = list_session_groups.Handler(ctx, backend, "", request).run().session_groups
    sessions = {
        group.name: [
            (s.name, api_pb2.Status.Name(s.status),
             {f"{m.name.group}/{m.name.tag}": m.value for m in s.metric_values})
            for s in group.sessions
        ]
        for group in groups
    }
    return experiment, sessions


def domains(experiment):
    found = {}
    for info in experiment.hparam_infos:
        if info.HasField("domain_discrete"):
            found[info.name] = [
                v.string_value if v.HasField("string_value")
                else v.bool_value if v.HasField("bool_value") else v.number_value
                for v in info.domain_discrete.values
            ]
        else:
            found[info.name] = (info.domain_interval.min_value, info.domain_interval.max_value)
    return found


def test_experiment_holds_the_declared_domains(tmp_path):
    hp = kt.HyperParameters()
    search_spaces.make_hypermodel("subclassed").build(hp)
    declared = {h.name: h.domain for h in _hparams.hparam_domains(hp)}
    assert set(declared) == {p.name for p in hp.space}
    assert (declared["learning_rate"].min_value, declared["learning_rate"].max_value) == (1e-4, 1e-2)
    assert list(declared["dropout"].values) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert list(declared["optimizer"].values) == ["adam", "adamw", "rmsprop", "sgd"]
    assert list(declared["batch_norm"].values) == [False, True]
    assert (declared["conv_blocks"].min_value, declared["conv_blocks"].max_value) == (1, 3)
    assert (declared["clipnorm"].min_value, declared["clipnorm"].max_value) == (0.1, 10.0)


class Unpicklable(keras.callbacks.Callback):
    """A user callback keras-tuner cannot deep-copy (it holds a lock)."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.fits = 0

    def on_train_begin(self, logs=None):
        self.fits += 1


# The grid's learning rate of 0 cannot build (the optimizer rejects it):
# every point of the spaces builds, so only a bad fixed value fails a trial.
BAD_RATE = 0.0


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A 3-trial grid search of light trials in which one learning rate cannot build."""
    logdir = tmp_path_factory.mktemp("search")
    hp = kt.HyperParameters()
    hp.Fixed("conv_blocks", 1)
    hp.Choice("learning_rate", [1e-3, BAD_RATE])
    hp.Boolean("batch_norm")
    routed = []
    progress = []

    def factory(run_dir, pipelines):
        routed.append(run_dir)
        return tuning.light_callbacks(run_dir, pipelines)

    user_callback = Unpicklable()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tuning.run_search(
            data.load_arrays(), space="sequential", tuner="grid", max_trials=3, epochs=1,
            logdir=logdir, name="grid", limit=128, batch_size=64, verbose=0,
            callbacks=[user_callback], hyperparameters=hp, tune_new_entries=False,
            callback_factory=factory, progress=progress.append,
        )
    copy_warnings = [w for w in caught if "cannot be deep-copied" in str(w.message)]
    return result, routed, user_callback, copy_warnings, progress


def trial_values(search_dir, name):
    with open(os.path.join(search_dir, name, "trial.json")) as handle:
        return json.load(handle)["hyperparameters"]["values"]


@pytest.mark.slow
def test_each_trial_is_a_session_with_its_status(search):
    result, *_ = search
    experiment, sessions = dashboard(result.search_dir)
    assert domains(experiment) == {
        "conv_blocks": [1.0], "learning_rate": [BAD_RATE, 1e-3], "batch_norm": [False, True],
    }
    metric_names = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert metric_names == {
        ("", "best_val_accuracy"), ("validation", "epoch_accuracy"),
        ("validation", "epoch_loss"), ("train", "epoch_accuracy"), ("train", "epoch_loss"),
    }
    assert sorted(sessions) == ["trial_0", "trial_1", "trial_2"]
    statuses = {}
    for group, [(name, status, metrics)] in sessions.items():
        assert name == group
        statuses[name] = status
        if trial_values(result.search_dir, name)["learning_rate"] == BAD_RATE:
            assert status == "STATUS_FAILURE" and metrics == {}
        else:
            assert status == "STATUS_SUCCESS"
            assert set(metrics) == {f"{g}/{t}" for g, t in metric_names}
            assert metrics["/best_val_accuracy"] == metrics["validation/epoch_accuracy"]
    assert sorted(statuses.values()).count("STATUS_FAILURE") >= 1
    assert "STATUS_SUCCESS" in statuses.values()


def light_trial_tags(model_layers):
    """The (subdirectory, tag) pairs a light trial of one epoch writes."""
    weights = {"conv_1": ("kernel", "bias"), "dense": ("kernel", "bias"),
               "predictions": ("kernel", "bias")}
    if "conv_1_bn" in model_layers:
        weights["conv_1_bn"] = ("gamma", "beta", "moving_mean", "moving_variance")
    train = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_steps_per_second",
             "gradient_norm"}
    for layer, variables in weights.items():
        train |= {f"weights/{layer}/{v}" for v in variables}
        trainable = [v for v in variables if not v.startswith("moving_")]
        train |= {f"gradients/{layer}/{v}" for v in trainable}
        train.add(f"update_ratio/{layer}")
    return {("train", tag) for tag in train} | {
        ("validation", "epoch_loss"), ("validation", "epoch_accuracy"),
        ("", "_hparams_/session_start_info"), ("", "_hparams_/session_end_info"),
        ("", "trial_status"), ("", "best_val_accuracy"),
    }


def written_tags(run_dir):
    pairs = set()
    for subdir in ("", "train", "validation"):
        path = os.path.join(run_dir, subdir)
        if os.path.isdir(path):
            tags = events.load(path).Tags()
            pairs |= {(subdir, tag) for tag in tags["tensors"]}
            assert not tags["graph"], f"{path} holds a graph"
    return pairs


@pytest.mark.slow
def test_each_trial_writes_the_light_set_into_its_run_dir(search):
    result, routed, *_ = search
    trial_dirs = [os.path.join(result.search_dir, f"trial_{i}") for i in range(3)]
    assert routed == trial_dirs  # one fresh set per trial, built before the model
    for row in result.leaderboard:
        run_dir = os.path.join(result.search_dir, row.run)
        if row.status == "COMPLETED":
            layers = {"conv_1", "dense", "predictions"}
            if row.hyperparameters["batch_norm"]:
                layers.add("conv_1_bn")
            assert written_tags(run_dir) == light_trial_tags(layers)
            # keras-tuner's checkpoint of the best epoch is the only model
            # file: no toolkit checkpoint, projector, graph or confusion matrix.
            files = {os.path.relpath(os.path.join(d, f), run_dir)
                     for d, _, names in os.walk(run_dir) for f in names}
            assert {f for f in files if "tfevents" not in f} == {
                "trial.json", "build_config.json", "checkpoint.weights.h5",
                os.path.join("plots", "history.png"),
            }
        else:
            assert not os.path.exists(os.path.join(run_dir, "train"))
            status = events.load(run_dir).Tensors("trial_status")
            text = status[0].tensor_proto.string_val[0].decode()
            assert text == "FAILED: ConfigError: learning_rate must be > 0, received: 0.0"


def test_progress_says_trial_i_of_n_the_best_so_far_and_the_time_left(search):
    result, *_, progress = search
    assert len(progress) == 3
    best = {}
    for i, line in enumerate(progress, start=1):
        assert line.startswith(f"trial {i}/3 (trial_{i - 1}): ")
        assert " | best " in line and line.endswith(" left")
        best[i] = line.split(" | best ")[1].split(" (")[0]
    winner = result.leaderboard[0]
    assert best[3] == f"{winner.score:.4f}"


def test_uncopyable_callbacks_are_shared_with_one_warning(search):
    result, _, user_callback, copy_warnings, _ = search
    assert len(copy_warnings) == 1
    assert "Unpicklable cannot be deep-copied" in str(copy_warnings[0].message)
    completed = sum(row.status == "COMPLETED" for row in result.leaderboard)
    assert user_callback.fits == completed


def test_leaderboard_links_each_trial_to_its_run(search):
    result, *_ = search
    rows = result.leaderboard
    assert len(rows) == 3
    scores = [row.score for row in rows if row.rank]
    assert scores == sorted(scores, reverse=True) and rows[0].rank == 1
    failed = [row for row in rows if row.status == "FAILED"]
    assert failed and all("learning_rate must be > 0" in row.reason for row in failed)
    board_text = events.load(result.search_dir).Tensors("leaderboard")
    text = board_text[-1].tensor_proto.string_val[0].decode()
    assert text.splitlines()[0] == (
        "| rank | trial | run | val_accuracy | status | hyperparameters |"
    )
    assert f"| 1 | {rows[0].trial_id} | `trial_{rows[0].trial_id}/` |" in text
    terminal = tuning.leaderboard_text(rows, tuning.OBJECTIVE).splitlines()
    assert terminal[0].split()[:4] == ["rank", "trial", "run", "val_accuracy"]
    for row, line in zip(rows, terminal[1:]):
        assert line.split()[1:3] == [row.trial_id, f"{row.run}/"]
        assert os.path.isdir(os.path.join(result.search_dir, row.run))


def test_best_model_is_the_winner_from_its_checkpoint(search):
    result, *_ = search
    assert result.best_dir == os.path.join(result.search_dir, tuning.BEST_DIR)
    assert result.best_model_path == os.path.join(result.best_dir, tuning.BEST_MODEL_FILE)
    model = keras.models.load_model(result.best_model_path)
    assert model.output_shape == (None, 10)
    winner = result.leaderboard[0]
    trained = keras.models.clone_model(model)
    trained.load_weights(os.path.join(result.search_dir, winner.run, "checkpoint.weights.h5"))
    for saved, kept in zip(model.weights, trained.weights):
        assert (saved.numpy() == kept.numpy()).all()


BEST_RUNS = {"best", "best/train", "best/validation"}


def best_run_files(best_dir):
    """Relative paths under `best/`, an events file named by its directory only."""
    found = []
    for directory, _, names in os.walk(best_dir):
        for name in names:
            path = os.path.relpath(os.path.join(directory, name), best_dir)
            found.append(os.path.join(os.path.dirname(path), "EVENTS")
                         if "tfevents" in name else path)
    return sorted(found)


@pytest.mark.timeout(180)
def test_best_run_has_the_full_set_through_tensorboard(search):
    result, *_ = search
    url, stop = board.start(result.search_dir, reload_interval=0)
    try:
        assert url.startswith("http://127.0.0.1:")
        runs = poll_json(url + "data/runs", lambda runs: BEST_RUNS <= set(runs))
        trials = {r for r in runs if r.startswith("trial_")}
        graphs = get_json(url + "data/plugin/graphs/info")
        assert graphs["best/train"]["run_graph"] is True
        assert not trials & set(graphs)
        images = get_json(url + "data/plugin/images/tags")
        assert {"confusion_matrix", "mistakes"} <= set(images["best/validation"])
        assert {"grad_cam", "history"} <= set(images["best/train"])
        projector = get_json(url + "data/plugin/projector/runs")
        assert projector == ["best/train"]
        [embedding] = get_json(url + "data/plugin/projector/info?run=best/train")["embeddings"]
        assert embedding["sprite"]["imagePath"] == "sprite.png"
        query = urllib.parse.urlencode({"run": "best/train", "name": embedding["tensorName"]})
        with urllib.request.urlopen(url + "data/plugin/projector/sprite_image?" + query,
                                    timeout=5) as sprite:
            assert sprite.read(8) == b"\x89PNG\r\n\x1a\n"
        text = get_json(url + "data/plugin/text/tags")
        assert text["best"] == ["hyperparameters"]
        assert "model/summary" in text["best/train"]
        assert "mistakes_table" in text["best/validation"]
        histograms = get_json(url + "data/plugin/histograms/tags")
        assert any(t.startswith("activations/") for t in histograms["best/train"])
        assert not any(t.startswith("activations/") for r in trials for t in histograms.get(r, {}))
        scalars = get_json(url + "data/plugin/scalars/tags")
        assert {"precision/0", "recall/0"} <= set(scalars["best/validation"])
        assert "best/validation" in get_json(url + "data/plugin/pr_curves/tags")
    finally:
        stop()
    [hparams_text] = events.load(result.best_dir).Tensors("hyperparameters")
    table = hparams_text.tensor_proto.string_val[0].decode()
    winner = result.leaderboard[0]
    assert f"| trial | {winner.trial_id} (run `{winner.run}`) |" in table
    assert f"| learning_rate | {winner.hyperparameters['learning_rate']} |" in table


@pytest.mark.slow
def test_inspect_best_rewrites_the_same_best_run(search, capsys):
    result, *_ = search
    logdir, name = os.path.split(result.search_dir)
    before = best_run_files(result.best_dir)
    assert before.count(os.path.join("train", "EVENTS")) == 1
    search_files = sorted(os.listdir(result.search_dir))
    argv = ["tune", "--inspect-best", "--space", "sequential", "--logdir", logdir,
            "--name", name]
    for _ in range(2):
        assert main(argv) == 0
        assert best_run_files(result.best_dir) == before
    assert sorted(os.listdir(result.search_dir)) == search_files
    out = capsys.readouterr().out
    assert f"best run: {result.best_dir}" in out
    assert f"{result.leaderboard[0].run}/" in out
    assert events.load(result.best_dir).Tags()["tensors"] == ["hyperparameters"]


def test_cli_usage_errors_exit_2_naming_the_argument(capsys, tmp_path):
    cases = [
        (["--max-trials", "0"], "argument --max-trials: must be a positive integer"),
        (["--space", "mlp"], "argument --space: invalid choice: 'mlp'"),
        (["--tuner", "evolution"], "argument --tuner: invalid choice: 'evolution'"),
        (["--worker", "127.0.0.1:1"], "--worker needs --worker-id N"),
        (["--worker", "127.0.0.1:1", "--worker-id", "0", "--overwrite"], "--overwrite: only"),
        (["--chief", "localhost"], "argument --chief: expected HOST:PORT"),
        (["--name", "a/b"], "--name: 'a/b' is not a valid name"),
        (["--trial-callbacks", "nope"],
         "argument --trial-callbacks: invalid choice: 'nope' (choose from 'light', 'full')"),
        (["--inspect-best", "--chief", "127.0.0.1:1"],
         "--inspect-best runs in one process: drop --chief/--worker"),
    ]
    for argv, message in cases:
        assert main(["tune", "--logdir", str(tmp_path), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ktb tune: error: ") and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_inspect_best_without_a_search_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["tune", "--inspect-best", "--logdir", str(tmp_path), "--name", "empty"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"ktb tune: error: --inspect-best: {tmp_path / 'empty'} holds no "
                          "search made by ktb tune")
    assert os.listdir(tmp_path) == ["empty"] and os.listdir(tmp_path / "empty") == []


class FailsEveryTrial(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise RuntimeError("this trial may not finish")


@pytest.mark.slow
def test_inspect_best_with_only_failed_trials_exits_2_and_writes_nothing(tmp_path, capsys):
    result = tuning.run_search(
        data.load_arrays(), space="sequential", max_trials=2, epochs=1, logdir=tmp_path,
        name="failed", limit=128, batch_size=64, verbose=0, callbacks=[FailsEveryTrial()],
    )
    assert [row.status for row in result.leaderboard] == ["FAILED", "FAILED"]
    assert result.best_dir is None and not os.path.exists(tmp_path / "failed" / "best")
    capsys.readouterr()
    listing = sorted(os.walk(tmp_path))
    argv = ["tune", "--inspect-best", "--logdir", str(tmp_path), "--name", "failed"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"ktb tune: error: --inspect-best: no trial of {tmp_path / 'failed'} "
                           "completed, so there is no best trial to inspect")
    assert sorted(os.walk(tmp_path)) == listing


def ktb(args, log, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "keras_tb_toolkit", "tune", *args], cwd=ROOT, env=env,
        stdout=log, stderr=subprocess.STDOUT, **kwargs,
    )


def read_oracle(search_dir):
    try:
        with open(os.path.join(search_dir, "oracle.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):  # not written yet, or being written
        return None


def wait_for(predicate, process, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"process exited ({process.returncode}) before {what}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def stop_all(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def finished_trials(search_dir, oracle):
    statuses = {}
    for trial_id in oracle["end_order"]:
        with open(os.path.join(search_dir, f"trial_{trial_id}", "trial.json")) as handle:
            statuses[trial_id] = json.load(handle)["status"]
    return statuses


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    args = ["--space", "sequential", "--tuner", "random", "--max-trials", "3",
            "--logdir", str(tmp_path), "--name", "resume", *QUICK]
    search_dir = tmp_path / "resume"
    processes = []
    try:
        with open(tmp_path / "first.log", "w") as log:
            first = ktb(args, log)
            processes.append(first)

            def mid_trial():
                oracle = read_oracle(search_dir)
                return oracle and oracle["end_order"] and oracle["ongoing_trials"] and oracle

            wait_for(mid_trial, first, BOUND_S, "a second trial to start")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        interrupted = set(read_oracle(search_dir)["ongoing_trials"].values())
        assert interrupted, "the kill should land in the middle of a trial"

        with open(tmp_path / "second.log", "w") as log:
            second = ktb(args, log)
            processes.append(second)
            assert second.wait(timeout=BOUND_S) == 0, (tmp_path / "second.log").read_text()
        output = (tmp_path / "second.log").read_text()
        assert "Reloading Tuner" in output and "best model:" in output
        # One line per finished trial, counting the ones before the kill.
        lines = [line for line in output.splitlines() if line.startswith("trial ")]
        assert lines and lines[-1].startswith("trial 3/3 ")
        # The winner was inspected once: one events file per best/ directory.
        best = search_dir / "best"
        for subdir in (best, best / "train", best / "validation"):
            assert len([f for f in os.listdir(subdir) if "tfevents" in f]) == 1, subdir
        oracle = read_oracle(search_dir)
        statuses = finished_trials(search_dir, oracle)
        assert len(oracle["end_order"]) == len(statuses) == 3
        assert interrupted <= set(statuses) and set(statuses.values()) <= {"COMPLETED", "FAILED"}
        _, sessions = dashboard(search_dir)
        assert sorted(sessions) == [f"trial_{i}" for i in sorted(statuses)]
        assert all(len(group) == 1 for group in sessions.values())
        for trial_id, status in statuses.items():
            [(_, shown, _)] = sessions[f"trial_{trial_id}"]
            assert shown == ("STATUS_SUCCESS" if status == "COMPLETED" else "STATUS_FAILURE")
    finally:
        stop_all(processes)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_survives_a_killed_worker(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    common = ["--space", "sequential", "--tuner", "random", "--max-trials", "3",
              "--logdir", str(tmp_path), "--name", "dist", *QUICK]
    search_dir = tmp_path / "dist"
    processes = []
    logs = {}

    def start(name, extra):
        logs[name] = open(tmp_path / f"{name}.log", "w")
        process = ktb([*common, *extra], logs[name])
        processes.append(process)
        return process

    try:
        chief = start("chief", ["--chief", address])
        start("worker0", ["--worker", address, "--worker-id", "0"])
        worker1 = start("worker1", ["--worker", address, "--worker-id", "1"])

        def worker1_busy():
            oracle = read_oracle(search_dir)
            return oracle and oracle["ongoing_trials"].get("worker1")

        wait_for(worker1_busy, worker1, BOUND_S, "worker 1 to start a trial")
        worker1.send_signal(signal.SIGKILL)
        worker1.wait(timeout=30)
        killed_trial = read_oracle(search_dir)["ongoing_trials"]["worker1"]
        start("worker1-restarted", ["--worker", address, "--worker-id", "1"])

        assert chief.wait(timeout=BOUND_S) == 0, (tmp_path / "chief.log").read_text()
        for process in processes[1:]:
            if process is not worker1:
                assert process.wait(timeout=60) == 0
        oracle = read_oracle(search_dir)
        statuses = finished_trials(search_dir, oracle)
        assert len(oracle["end_order"]) == len(statuses) == 3 and killed_trial in statuses
        assert set(statuses.values()) <= {"COMPLETED", "FAILED"}
        experiments = [f for f in os.listdir(search_dir) if f.endswith(_hparams.EXPERIMENT_SUFFIX)]
        assert len(experiments) == 1 and f".{chief.pid}." in experiments[0]
        _, sessions = dashboard(search_dir)
        assert sorted(sessions) == [f"trial_{i}" for i in sorted(statuses)]
        assert all(len(group) == 1 for group in sessions.values())
        assert "best model:" in (tmp_path / "chief.log").read_text()
    finally:
        stop_all(processes)
        for log in logs.values():
            log.close()


def test_make_tuner_rejects_unknown_tuners_and_counts(tmp_path):
    hypermodel = search_spaces.make_hypermodel("sequential")
    options = dict(pipelines=None, directory=tmp_path, project_name="x", epochs=1)
    with pytest.raises(ConfigError,
                       match="--tuner must be one of random, bayesian, hyperband, grid, "
                             "received: 'evolution'"):
        tuning.make_tuner("evolution", hypermodel, max_trials=1, **options)
    with pytest.raises(ConfigError,
                       match="--max-trials must be a positive integer, received: 0"):
        tuning.make_tuner("random", hypermodel, max_trials=0, **options)
    assert os.listdir(tmp_path) == []


def test_failure_reason_is_the_last_line_without_the_module_path():
    message = ("Traceback (most recent call last):\n  ...\n"
               "keras_tuner.src.errors.FailedTrialError: ConfigError: too small\n")
    assert _hparams.failure_reason(message) == "ConfigError: too small"
    assert _hparams.failure_reason("ValueError: bad\n") == "ValueError: bad"
    assert _hparams.failure_reason(None) == "unknown reason"
