"""Every callback proves it can write its directories before training."""

import errno
import os
import re

import pytest
from helpers import conv_classifier

from keras_tb_toolkit import callbacks as cb

pytestmark = pytest.mark.timeout(120)


# Every public callback that writes (LivePlot draws in the notebook only).
MAKERS = {
    "ScalarLogger": lambda d, x, y: cb.ScalarLogger(d),
    "LayoutWriter": lambda d, x, y: cb.LayoutWriter(d),
    "ModelInfoLogger": lambda d, x, y: cb.ModelInfoLogger(d),
    "HistogramLogger": lambda d, x, y: cb.HistogramLogger(d),
    "HistoryPlotter": lambda d, x, y: cb.HistoryPlotter(d),
    "ConfusionMatrixLogger": lambda d, x, y: cb.ConfusionMatrixLogger(d, (x, y)),
    "PRCurveLogger": lambda d, x, y: cb.PRCurveLogger(d, (x, y)),
    "MistakesLogger": lambda d, x, y: cb.MistakesLogger(d, (x, y)),
    "GradCAMLogger": lambda d, x, y: cb.GradCAMLogger(d, x[:2]),
    "EmbeddingProjector": lambda d, x, y: cb.EmbeddingProjector(d, x[:8], labels=y[:8]),
    "BatchProfiler": lambda d, x, y: cb.BatchProfiler(d),
    "Checkpoint": lambda d, x, y: cb.Checkpoint(d),
}


def test_every_writing_callback_is_covered():
    writers = set(cb.__all__) - {"LivePlot", "ResumeState", "plot_history",
                                 "profile_plugin_installed"}
    assert {n for n in writers if not n.endswith("Error")} == set(MAKERS)


def fails_before_training(log_dir, name, reason):
    model, x, y = conv_classifier()
    error = cb.CheckpointWriteError if name == "Checkpoint" else cb.LogDirError
    what = "Checkpoint directory" if name == "Checkpoint" else "Log directory"
    message = (f"^(\\[Errno \\d+\\] )?{what} '{re.escape(str(log_dir))}[^']*' is not "
               f"writable: {reason}\\. Choose a directory you can write to "
               "\\(checked before training starts\\)\\.$")
    with pytest.raises(error, match=message):
        model.fit(x, y, validation_data=(x, y), batch_size=8, epochs=1, verbose=0,
                  callbacks=[MAKERS[name](str(log_dir), x, y)])
    assert int(model.optimizer.iterations) == 0


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_log_dir_under_a_file_fails_before_any_step(tmp_path, name):
    (tmp_path / "afile").write_text("a regular file")
    fails_before_training(tmp_path / "afile" / "logs", name, "Not a directory")


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_read_only_log_dir_fails_before_any_step(tmp_path, name, monkeypatch):
    # Tests run as root, whom file modes do not stop: the file system's
    # answer to a write below log_dir is simulated instead.
    log_dir = tmp_path / "logs"
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        if os.fspath(path).startswith(str(log_dir)) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    fails_before_training(log_dir, name, "Read-only file system")
    assert not os.path.exists(log_dir / "train")  # Only the probe wrote.


def test_tensorboard_files_follow_the_umask_and_checkpoints_stay_private(tmp_path):
    """A TensorBoard run by another account reads every file it shows."""
    model, x, y = conv_classifier()
    log_dir = tmp_path / "run"
    previous = os.umask(0o027)  # Not the usual 022, to see it is followed.
    try:
        model.fit(x, y, validation_data=(x, y), batch_size=8, epochs=1, verbose=0,
                  callbacks=[cb.EmbeddingProjector(str(log_dir), x, labels=y),
                             cb.HistoryPlotter(str(log_dir), formats="png"),
                             cb.Checkpoint(str(log_dir / "checkpoints"))])
    finally:
        os.umask(previous)

    def mode(path):
        return oct(path.stat().st_mode & 0o777)

    shown = ["train/metadata.tsv", "train/sprite.png", "train/projector_config.pbtxt",
             "train/checkpoint", "plots/history.png",
             *(str(p.relative_to(log_dir)) for p in log_dir.rglob("events.out.*"))]
    assert {name: mode(log_dir / name) for name in shown} == {
        name: oct(0o640) for name in shown}
    private = list((log_dir / "checkpoints").iterdir())
    assert {p.name for p in private if mode(p) != oct(0o600)} == set()
    assert len(private) == 3  # The checkpoint, manifest.json, pending.json.
