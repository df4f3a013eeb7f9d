"""TensorBoard started before training shows every dashboard advance while it runs.

TensorBoard is started first, on an empty log directory, as users do. At the
end of the last epoch a callback placed after every other one holds training
and asks the server, through its HTTP API, for the newest step of every
(run, tag) that the run writes once per epoch: each must have reached epoch
N-2 of N while training is still running. Both `ktb board` (TensorBoard's
Python loader) and a plain `tensorboard --logdir` (its default loader) are
checked.
"""

import glob
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

import keras
import pytest

from events import load
from helpers import get_json, stop_process
from keras_tb_toolkit.toolkit import board
from keras_tb_toolkit.toolkit import training
from keras_tb_toolkit.toolkit.config import TrainConfig

EPOCHS = 4
PLUGINS = ("scalars", "histograms", "images")


def _plain_tensorboard(logdir):
    """`tensorboard --logdir` as a user starts it (on 127.0.0.1, a free port)."""
    executable = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    process = subprocess.Popen(
        [executable, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    lines = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()

    def stop():
        stop_process(process)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        found = [re.search(r"(http://127\.0\.0\.1:\d+/)", line) for line in list(lines)]
        found = [m.group(1) for m in found if m]
        if found:
            return found[0], stop
        time.sleep(0.2)
    stop()
    raise AssertionError(f"tensorboard printed no URL: {''.join(lines)[-2000:]}")


@pytest.fixture(params=["ktb board", "tensorboard"])
def server(request, tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    if request.param == "ktb board":
        url, stop = board.start(logdir)
    else:
        url, stop = _plain_tensorboard(logdir)
    try:
        yield logdir, url
    finally:
        stop()


def _newest_steps(url, run_prefix):
    """{(plugin, run, tag): newest step} the server has for runs under `run_prefix`."""
    newest = {}
    for plugin in PLUGINS:
        tags = get_json(url + f"data/plugin/{plugin}/tags")
        for run, run_tags in tags.items():
            if not run.startswith(run_prefix):
                continue
            for tag in run_tags:
                query = urllib.parse.urlencode({"run": run, "tag": tag})
                route = {"scalars": "scalars", "histograms": "histograms",
                         "images": "images"}[plugin]
                points = get_json(url + f"data/plugin/{plugin}/{route}?{query}")
                steps = [p["step"] if isinstance(p, dict) else p[1] for p in points]
                if steps:
                    newest[(plugin, run, tag)] = max(steps)
    return newest


class _Watcher(keras.callbacks.Callback):
    """At the last epoch's end, records what the server shows by then."""

    def __init__(self, url, run_prefix, ready):
        super().__init__()
        self.url, self.run_prefix, self.ready = url, run_prefix, ready
        self.seen = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch != EPOCHS - 1:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.seen = _newest_steps(self.url, self.run_prefix)
            if self.ready(self.seen):
                return
            time.sleep(0.5)


def _per_epoch_tags(run_dir):
    """(plugin, run, tag) of everything written at every epoch 0..N-1."""
    found = set()
    for sub in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, sub)
        if not glob.glob(os.path.join(path, "events.out.tfevents.*")):
            continue
        accumulator = load(path)
        # TF2 writes scalars, histograms and images alike as tensor
        # summaries; the plugin that shows each is in its metadata.
        for tag in accumulator.Tags().get("tensors", []):
            plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
            steps = sorted(e.step for e in accumulator.Tensors(tag))
            if plugin in PLUGINS and steps == list(range(EPOCHS)):
                found.add((plugin, sub, tag))
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ktb_train_is_live_in_tensorboard(server):
    logdir, url = server
    run_prefix = "sequential/live/"

    def ready(seen):
        epoch_loss = [("scalars", run_prefix + s, "epoch_loss") for s in ("train", "validation")]
        return all(seen.get(key, -1) >= EPOCHS - 2 for key in epoch_loss) and all(
            step >= EPOCHS - 2 for step in seen.values())

    watcher = _Watcher(url, run_prefix, ready)
    config = TrainConfig(epochs=EPOCHS, limit=512, batch_size=64, logdir=str(logdir),
                         run_name="live")
    result = training.train(config, extra_callbacks=[watcher], verbose=0)

    per_epoch = _per_epoch_tags(result.run_dir)
    # Every writer of the run: Keras' scalars in both splits, the gradient
    # statistics, the histograms and the images.
    assert {("scalars", "train", "epoch_loss"), ("scalars", "validation", "epoch_loss"),
            ("scalars", "train", "epoch_learning_rate"), ("scalars", "train", "gradient_norm"),
            ("images", "train", "history")} <= per_epoch
    assert any(p == "histograms" for p, _, _ in per_epoch)
    late = {
        f"{plugin}:{sub}/{tag}": watcher.seen.get((plugin, run_prefix + sub, tag))
        for plugin, sub, tag in per_epoch
        if watcher.seen.get((plugin, run_prefix + sub, tag), -1) < EPOCHS - 2
    }
    assert not late, f"behind epoch {EPOCHS - 2} while training ran: {late}"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_one_events_file_per_run_subdirectory(tmp_path):
    config = TrainConfig(epochs=1, limit=256, batch_size=64, logdir=str(tmp_path),
                         run_name="files")
    result = training.train(config, verbose=0)
    for sub in ("train", "validation"):
        files = glob.glob(os.path.join(result.run_dir, sub, "events.out.tfevents.*"))
        assert len(files) == 1, (sub, files)
