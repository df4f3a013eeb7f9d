"""`ktb train --strategy multi-worker`: two worker processes on 127.0.0.1.

One uninterrupted two-worker run (module fixture) serves the checks of
what it wrote; a second run is killed mid-epoch and resumed. Every worker
runs with bounded time, and its process group is killed in `finally`.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import events
from helpers import assert_refused_before_tensorflow_loads, files_under

# 192 images in global batches of 32: 6 steps an epoch, a checkpoint every
# 2, so a kill lands mid-epoch; --deterministic for bit-equal weights.
ARGS = ["train", "--strategy", "multi-worker", "--limit", "192", "--epochs", "2",
        "--batch-size", "32", "--deterministic", "--save-freq", "2"]
RUN_S = 240
RUN = ("sequential", "mw")


def free_ports(count):
    """`count` TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index):
    return json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    })


class Workers:
    """Two `ktb` worker processes, each in its own session and temp dir."""

    def __init__(self, root, argv, name):
        ports = free_ports(2)
        self.temp_dirs = [root / f"{name}-tmp{i}" for i in range(2)]
        self.processes = []
        for index, temp in enumerate(self.temp_dirs):
            temp.mkdir()
            env = {**os.environ, "TF_CONFIG": tf_config(ports, index),
                   "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(temp)}
            log = open(root / f"{name}-worker{index}.log", "w")
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "keras_tb_toolkit", *argv],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            ))
            log.close()
        self.logs = [root / f"{name}-worker{i}.log" for i in range(2)]

    def wait(self, timeout_s=RUN_S):
        deadline = time.monotonic() + timeout_s
        codes = [p.wait(timeout=max(1, deadline - time.monotonic())) for p in self.processes]
        return codes

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def output(self):
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in self.logs)


def run_workers(root, argv, name):
    workers = Workers(root, argv, name)
    try:
        codes = workers.wait()
    finally:
        workers.kill()
    assert codes == [0, 0], workers.output()
    return workers


def final_weights(run_dir):
    import keras

    return keras.saving.load_model(os.path.join(run_dir, "model.keras")).get_weights()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    workers = run_workers(root, [*ARGS, "--logdir", str(root / "logs"), "--run-name", "mw"],
                          "run")
    return root / "logs" / os.path.join(*RUN), workers


def _normalised(names, chief_pid):
    """Run files with each events file's host and pid replaced by a marker;
    fails if an events file was written by a process other than the chief."""
    result = []
    for name in names:
        base = os.path.basename(name)
        if base.startswith("events.out.tfevents."):
            assert f".{chief_pid}." in base, f"{name} was not written by the chief"
            name = os.path.join(os.path.dirname(name), "events")
        result.append(name)
    return sorted(result)


@pytest.mark.slow
def test_only_the_chief_writes_and_workers_leave_no_temp_files(uninterrupted):
    run_dir, workers = uninterrupted
    chief_pid = workers.processes[0].pid  # worker 0 without a "chief" task
    checkpoints = [n for n in files_under(run_dir) if n.startswith("checkpoints/")]
    assert "checkpoints/manifest.json" in checkpoints
    assert _normalised(set(files_under(run_dir)) - set(checkpoints), chief_pid) == sorted([
        "config.json", "model.keras",
        "plots/history.png", "plots/history.svg",
        "train/events", "train/checkpoint", "train/embeddings.data-00000-of-00001",
        "train/embeddings.index", "train/metadata.tsv", "train/projector_config.pbtxt",
        "train/sprite.png",
        "validation/events",
    ])
    with open(run_dir / "config.json") as handle:
        assert "strategy" not in json.load(handle)  # per invocation, like --profile-batches
    for temp in workers.temp_dirs:
        assert list(temp.iterdir()) == [], temp
    chief_log, worker_log = (log.read_text() for log in workers.logs)
    assert f"run directory: {run_dir}\n" in chief_log
    assert (f"run directory: {run_dir} (the chief writes it; this worker wrote "
            "nothing)\n") in worker_log


@pytest.mark.slow
def test_two_worker_scalars_read_back_with_the_tags_of_one_worker(uninterrupted):
    run_dir, _ = uninterrupted
    layers = ["conv_1", "conv_2", "conv_3", "dense", "predictions"]
    train = events.load(os.path.join(run_dir, "train")).Tags()["tensors"]
    assert set(train) == {
        "epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_steps_per_second",
        "epoch_examples_per_second", "history", "grad_cam", "custom_scalars__config__",
        "model/summary", "model/params/trainable", "model/params/non_trainable",
        "model/params/total",
        *{f"{kind}/{layer}/{v}" for kind in ("weights", "gradients") for layer in layers
          for v in ("kernel", "bias")},
        *{f"update_ratio/{layer}" for layer in layers}, "gradient_norm",
        *{f"activations/{layer}" for layer in layers + ["pool_1", "pool_2", "flatten"]},
    }
    validation = events.load(os.path.join(run_dir, "validation")).Tags()["tensors"]
    assert set(validation) == {
        "epoch_loss", "epoch_accuracy", "confusion_matrix", "mistakes", "mistakes_table",
        *{f"{m}/{c}" for m in ("precision", "recall") for c in range(10)},
        *{f"pr_curve/{c}/pr_curves" for c in range(10)},
    }
    for split in ("train", "validation"):
        scalars = events.scalars(os.path.join(run_dir, split))
        for tag in ("epoch_loss", "epoch_accuracy"):
            assert [step for step, _ in scalars[tag]] == [0, 1], (split, tag)
            assert all(np.isfinite(value) for _, value in scalars[tag])


def _mid_epoch_entries(run_dir):
    try:
        with open(os.path.join(run_dir, "checkpoints", "manifest.json")) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return []
    return [e for e in manifest["checkpoints"]
            if not e["end_of_epoch"]]


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_then_all_resumed_end_as_if_uninterrupted(
        uninterrupted, tmp_path):
    expected_dir, _ = uninterrupted
    argv = [*ARGS, "--logdir", str(tmp_path / "logs"), "--run-name", "mw"]
    run_dir = tmp_path / "logs" / os.path.join(*RUN)
    workers = Workers(tmp_path, argv, "killed")
    try:
        deadline = time.monotonic() + RUN_S
        while not any(e["batch"] >= 2 for e in _mid_epoch_entries(run_dir)):
            assert time.monotonic() < deadline, workers.output()
            assert all(p.poll() is None for p in workers.processes), workers.output()
            time.sleep(0.05)
        os.killpg(workers.processes[1].pid, signal.SIGKILL)
    finally:
        workers.kill()  # The chief cannot go on alone: restart all workers.
    assert not (run_dir / "model.keras").exists(), "the run ended before the kill"
    resumed = run_workers(tmp_path, [*argv, "--resume"], "resumed")
    # From a checkpoint, not from scratch (which would end with equal weights too).
    for log in resumed.logs:
        epoch, batch = re.search(r"resumed at epoch (\d+) of 2, after its batch (\d+)",
                                 log.read_text()).groups()
        assert (int(epoch), int(batch)) > (1, 0), log.read_text()[-2000:]
    for resumed, expected in zip(final_weights(run_dir), final_weights(expected_dir)):
        np.testing.assert_array_equal(resumed, expected)


def test_bad_tf_config_is_refused_before_tensorflow_loads(tmp_path, monkeypatch):
    argv = ["train", "--strategy", "multi-worker", "--run-name", "r"]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert_refused_before_tensorflow_loads(
        tmp_path, argv,
        "ktb train: error: --strategy multi-worker needs TF_CONFIG, the cluster and this "
        "process's task as JSON, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
        "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}'",
    )
    monkeypatch.setenv("TF_CONFIG", "{cluster: }")
    assert_refused_before_tensorflow_loads(
        tmp_path, argv,
        "ktb train: error: TF_CONFIG is not valid JSON (Expecting property name enclosed "
        "in double quotes: line 1 column 2 (char 1)); expected e.g. {\"cluster\": "
        "{\"worker\": [\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", "
        "\"index\": 0}}",
    )
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 2))
    assert_refused_before_tensorflow_loads(
        tmp_path, argv,
        "ktb train: error: TF_CONFIG: task index 2 is out of range: the cluster has 2 "
        "'worker' task(s), indices 0 to 1",
    )
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 0))
    assert_refused_before_tensorflow_loads(
        tmp_path, argv[:-2],
        "ktb train: error: --strategy multi-worker needs --run-name NAME: every worker "
        "must name the same run directory",
    )


# Each worker trains a tiny model with `DistributedLoop` and a
# HistogramLogger capturing gradients into its own directory.
_GRADIENT_WORKER = """
import sys
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
import keras, numpy as np
from keras_tb_toolkit.callbacks import HistogramLogger
from keras_tb_toolkit.toolkit.distributed import DistributedLoop
keras.utils.set_random_seed(0)
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.RandomState(0).rand(32, 8).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] * 3).astype("int64"))).batch(8)
DistributedLoop(model, strategy).fit(
    data, None, epochs=1, steps_per_epoch=1, verbose=0,
    callbacks=[HistogramLogger(sys.argv[1], activations=False)])
"""


@pytest.mark.slow
def test_gradient_histograms_under_multi_worker(tmp_path):
    ports = free_ports(2)
    processes = []
    try:
        for index in range(2):
            env = {**os.environ, "TF_CONFIG": tf_config(ports, index),
                   "TF_CPP_MIN_LOG_LEVEL": "3"}
            processes.append(subprocess.Popen(
                [sys.executable, "-c", _GRADIENT_WORKER, str(tmp_path / f"run{index}")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, text=True,
            ))
        codes = [p.wait(timeout=120) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    assert codes == [0, 0], processes[0].stderr.read()[-2000:]
    tags = events.load(str(tmp_path / "run0" / "train")).Tags()["tensors"]
    assert {"gradients/dense/kernel", "gradient_norm", "update_ratio/dense"} <= set(tags)
    assert not (tmp_path / "run1").exists()  # Worker 1 read them and wrote nothing.
    # One step from the seeded initial weights: the logged norm is that of
    # the gradient of the whole global batch's mean loss, which neither
    # worker's half of the batch alone gives.
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    x = np.random.RandomState(0).rand(32, 8).astype("float32")
    y = (x[:, 0] * 3).astype("int64")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def norm(rows):
        with tf.GradientTape() as tape:
            value = loss(y[rows], model(x[rows]))
        return float(tf.linalg.global_norm(tape.gradient(value, model.trainable_variables)))

    [(_, logged)] = events.scalars(str(tmp_path / "run0" / "train"))["gradient_norm"]
    assert logged == pytest.approx(norm(slice(0, 8)), rel=1e-5)
    assert logged != pytest.approx(norm(slice(0, 4)), rel=1e-3)


@pytest.mark.parametrize("value, message", [
    ("[]", "TF_CONFIG must be a JSON object, received: '[]'"),
    ('{"task": {"type": "worker", "index": 0}}',
     'TF_CONFIG: "cluster" must map task types to lists of host:port addresses, '
     "received: null"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}',
     "TF_CONFIG: task type 'ps' in the cluster is not one MultiWorkerMirroredStrategy "
     "trains with (chief, worker)"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG: cluster 'worker' must be a non-empty list of host:port addresses, "
     'received: ["localhost"]'),
    ('{"cluster": {"chief": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}',
     'TF_CONFIG: a cluster has at most one chief, received: ["a:1", "b:2"]'),
    ('{"cluster": {"worker": ["a:1"]}}',
     'TF_CONFIG: "task" must be an object with "type" and "index", received: null'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     'TF_CONFIG: task type "chief" is not in the cluster, which has worker'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}',
     'TF_CONFIG: task index must be an integer, received: "0"'),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": -1}}',
     "TF_CONFIG: task index -1 is out of range: the cluster has 1 'worker' task(s), "
     "indices 0 to 0"),
])
def test_tf_config_faults_are_named_in_one_line(tmp_path, monkeypatch, value, message):
    from keras_tb_toolkit.toolkit.config import TrainConfig
    from keras_tb_toolkit.toolkit.errors import ConfigError

    monkeypatch.setenv("TF_CONFIG", value)
    config = TrainConfig(strategy="multi-worker", run_name="r", logdir=str(tmp_path / "logs"))
    with pytest.raises(ConfigError) as raised:
        config.validate()
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_a_valid_tf_config_with_a_chief_passes(tmp_path, monkeypatch):
    from keras_tb_toolkit.toolkit.config import TrainConfig

    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]},
        "task": {"type": "worker", "index": 1}}))
    config = TrainConfig(strategy="multi-worker", run_name="r", logdir=str(tmp_path))
    assert config.validate() is config


def test_the_loop_trains_like_fit_on_one_worker():
    """Same weights, history and scores as `fit`: the loop adds nothing to the steps."""
    import tensorflow as tf

    from helpers import tiny_classifier
    from keras_tb_toolkit.toolkit.distributed import DistributedLoop

    import keras

    class Hooks(keras.callbacks.Callback):
        """Records every hook called, with its batch or epoch and log keys."""

        def __init__(self):
            super().__init__()
            self.calls = []
            for name in ("train_begin", "train_end", "epoch_begin", "epoch_end",
                         "train_batch_begin", "train_batch_end", "test_begin",
                         "test_end", "test_batch_begin", "test_batch_end"):
                setattr(self, f"on_{name}", self._recorder(name))

        def _recorder(self, name):
            def record(*args, logs=None):
                self.calls.append((name, *args, tuple(sorted(logs or {}))))
            return record

    results = []
    hooks = []
    for use_loop in (False, True):
        model, x, y = tiny_classifier()
        hooks.append(Hooks())
        train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat(2)
        validation = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        if use_loop:
            loop = DistributedLoop(model, tf.distribute.get_strategy())
            history = loop.fit(train, validation, epochs=2, steps_per_epoch=3, verbose=0,
                               callbacks=[hooks[-1]])
            scores = loop.evaluate(validation)
        else:
            history = model.fit(train, validation_data=validation, epochs=2,
                                steps_per_epoch=3, shuffle=False, verbose=0,
                                callbacks=[hooks[-1]]).history
            scores = model.evaluate(validation, return_dict=True, verbose=0)
        results.append((model.get_weights(), history, scores))
    (fit_weights, fit_history, fit_scores), (weights, history, scores) = results
    for ours, theirs in zip(weights, fit_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert set(history) == set(fit_history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in history:
        np.testing.assert_allclose(history[key], fit_history[key], rtol=1e-5)
    assert scores == pytest.approx(fit_scores, rel=1e-5)
    assert len(hooks[0].calls) == 2 + 2 * (2 + 2 * 3 + 2 + 2 * 3)
    assert hooks[1].calls == hooks[0].calls


def test_scalar_logger_on_a_worker_that_is_not_the_chief_writes_nothing(tmp_path,
                                                                         monkeypatch):
    from helpers import mirrored_strategy, tiny_classifier
    from keras_tb_toolkit.callbacks import ScalarLogger

    strategy = mirrored_strategy()
    # What MultiWorkerMirroredStrategy answers on a worker that is not the chief.
    monkeypatch.setattr(type(strategy.extended), "should_save_summary", False)
    monkeypatch.setattr(type(strategy.extended), "should_checkpoint", False)
    with strategy.scope():
        model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ScalarLogger(str(tmp_path / "run"))])
    assert files_under(tmp_path) == []
