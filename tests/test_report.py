"""`ktb report`: reading event files back exactly, the figure, the summary, errors."""

import io
import itertools
import os
import re
import struct
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary

from keras_tb_toolkit.toolkit import report
from keras_tb_toolkit.toolkit.cli import main
from keras_tb_toolkit.toolkit.cli import report as report_cli

pytestmark = pytest.mark.timeout(120)

# Values exactly representable in float32, so what is read equals what was
# written, and `.6g` prints them as written.
CURVES = {
    "exp/a": {
        "train": {"epoch_accuracy": [0.25, 0.5, 0.75], "epoch_loss": [2.0, 1.5, 1.25]},
        "validation": {"epoch_accuracy": [0.125, 0.375, 0.625], "epoch_loss": [2.5, 2.0, 1.75]},
    },
    "exp/b": {
        "train": {"epoch_accuracy": [0.5, 0.75, 0.875], "epoch_loss": [1.0, 0.75, 0.5]},
        "validation": {"epoch_accuracy": [0.25, 0.5, 0.8125], "epoch_loss": [1.5, 1.25, 1.125]},
    },
}
TRIALS = {"trial_0": (8, 0.01, 0.5), "trial_1": (16, 0.001, 0.875), "trial_2": (8, 0.1, 0.25)}


def write_scalars(path, tags, histogram=False):
    with tf.summary.create_file_writer(str(path)).as_default():
        for tag, values in tags.items():
            for step, value in enumerate(values):
                tf.summary.scalar(tag, value, step=step)
        if histogram:  # other summaries are read past, not reported
            tf.summary.histogram("dense/kernel", np.arange(10.0), step=0)
            tf.summary.image("inputs", np.zeros((1, 4, 4, 1)), step=0)
            tf.summary.text("note", "not a scalar", step=0)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    for run, subsets in CURVES.items():
        for subset, tags in subsets.items():
            write_scalars(root / run / subset, tags, histogram=subset == "train")
    return root


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    with tf.summary.create_file_writer(str(root)).as_default():
        hp.hparams_config(
            hparams=[hp.HParam("units", hp.Discrete([8, 16])),
                     hp.HParam("learning_rate", hp.RealInterval(1e-4, 1e-1))],
            metrics=[hp.Metric("epoch_accuracy", group="validation")],
        )
    for trial, (units, learning_rate, accuracy) in TRIALS.items():
        with tf.summary.create_file_writer(str(root / trial)).as_default():
            hp.hparams({"units": units, "learning_rate": learning_rate}, trial_id=trial)
        write_scalars(root / trial / "train", {"epoch_accuracy": [accuracy / 2, accuracy]})
        write_scalars(root / trial / "validation", {"epoch_accuracy": [accuracy / 4, accuracy]})
    return root


def write_trials(root, count, epochs, failed=()):
    """A search of `count` trials named as `ktb tune` names them, under a
    timestamped folder, with the demo's hyperparameter names: ten vary,
    two are the same in every trial. The `failed` ones end their session
    with a failure, as `toolkit.tuning` writes it, before any epoch."""
    search = root / "search-20261129-063340"
    for i in range(count):
        trial = search / f"trial_{i:03d}"
        values = {
            "api": ("sequential", "functional", "subclassed")[i % 3],
            "learning_rate": (0.1, 0.01, 0.001, 0.0001)[i % 4],
            "optimizer": ("adam", "adamw", "rmsprop")[i % 3], "dense_units": 32 * (1 + i % 4),
            "dropout": (i % 5) / 8, "batch_norm": bool(i % 2), "conv_blocks": 1 + i % 3,
            "kernel_size": 3 + 2 * (i % 2), "filters_1": 16 * (1 + i % 3),
            "label_smoothing": (i % 3) / 8, "seed": 0, "dataset": "mnist",
        }
        with tf.summary.create_file_writer(str(trial)).as_default():
            hp.hparams(values, trial_id=str(i))
            if i in failed:
                tf.summary.text("trial_status", f"FAILED: out of memory in trial {i}", step=0)
                end = hparams_summary.session_end_pb(api_pb2.STATUS_FAILURE)
                tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=0)
                continue
        for subset, offset in (("train", 0.0625), ("validation", 0.0)):
            write_scalars(trial / subset, {
                "epoch_accuracy": [i / 64 + epoch / 128 + offset for epoch in range(epochs)],
                "epoch_loss": [2.0 - i / 32 for _ in range(epochs)],
            })
    return search


@pytest.fixture(scope="module")
def four_trials(tmp_path_factory):
    root = tmp_path_factory.mktemp("four")
    write_trials(root, 4, epochs=3)
    return root


@pytest.fixture(scope="module")
def fifty_trials(tmp_path_factory):
    root = tmp_path_factory.mktemp("fifty")
    write_trials(root, 50, epochs=1, failed=set(range(3, 48, 5)))
    return root


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_read_logdir_returns_exactly_the_written_scalars(runs_dir):
    data = report.read_logdir(runs_dir)

    expected = sorted(
        (run, subset, tag, step, value)
        for run, subsets in CURVES.items()
        for subset, tags in subsets.items()
        for tag, values in tags.items()
        for step, value in enumerate(values)
    )
    assert data.records() == expected
    assert [run.name for run in data.runs] == ["exp/a", "exp/b"]
    assert data.metrics() == ["accuracy", "loss"]
    assert data.subsets() == ("train", "validation")
    assert data.trials == () and data.hparam_names == ()


def test_read_logdir_of_one_run_with_threads(runs_dir):
    data = report.read_logdir(runs_dir / "exp" / "a", threads=3)

    assert [run.name for run in data.runs] == ["."]
    assert data.runs[0].final("accuracy", "validation") == (2, 0.625)


def test_read_search_gives_each_trial_its_hparams(search_dir):
    data = report.read_logdir(search_dir)

    assert data.hparam_names == ("units", "learning_rate")  # declared order
    assert {run.name: run.hparams for run in data.trials} == {
        trial: {"units": units, "learning_rate": pytest.approx(learning_rate)}
        for trial, (units, learning_rate, _) in TRIALS.items()
    }
    ranked = report.rank_runs(data.runs, "accuracy")
    assert [(run.name, subset) for run, subset, _ in ranked] == [
        ("trial_1", "validation"), ("trial_0", "validation"), ("trial_2", "validation")
    ]


def test_report_writes_png_of_expected_size_and_summary(runs_dir, capsys):
    assert main(["report", str(runs_dir)]) == 0

    out = runs_dir / "report.png"
    width, height = report.figure_size(report.read_logdir(runs_dir), "accuracy")
    assert png_size(out) == (round(width * report.DPI), round(height * report.DPI))
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"report written to {out}",
        f"2 runs under {runs_dir}/exp, ranked on the final accuracy "
        "(higher is better; validation, else train)",
        "best run: b (validation accuracy 0.8125 at step 2)",
        "rank  run  train accuracy  validation accuracy  best step",
        "   1  b             0.875               0.8125          2",
        "   2  a              0.75                0.625          2",
        "best step: the step of the best validation accuracy of the run "
        "(runs are ranked on their final value)",
        "other scalars: --all-metrics lists their final values",
    ]
    assert captured.err == ""  # a small log directory reads too fast for progress
    os.remove(out)


def test_report_svg_with_loss_ranks_lowest_first_and_lists_all_metrics(
        runs_dir, tmp_path, capsys):
    out = tmp_path / "loss.svg"

    argv = ["report", str(runs_dir), "--out", str(out), "--metric", "loss", "--all-metrics"]
    assert main(argv) == 0

    width, height = report.figure_size(report.read_logdir(runs_dir), "loss")
    head = out.read_text()[:2000]
    assert re.search(rf'width="{width * 72:g}pt" height="{height * 72:g}pt"', head)
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:] == [
        "rank  run  train loss  validation loss  best step",
        "   1  b           0.5            1.125          2",
        "   2  a          1.25             1.75          2",
        "best step: the step of the best validation loss of the run "
        "(runs are ranked on their final value)",
        "final value of every scalar:",
        "  b",
        "    train: accuracy=0.875 loss=0.5",
        "    validation: accuracy=0.8125 loss=1.125",
        "  a",
        "    train: accuracy=0.75 loss=1.25",
        "    validation: accuracy=0.625 loss=1.75",
    ]
    assert "best run: b (validation loss 1.125 at step 2)" in lines
    assert not (runs_dir / "report.png").exists()


def test_report_of_search_ranks_trials_with_varied_hparams(search_dir, tmp_path, capsys):
    out = tmp_path / "search.png"

    assert main(["report", str(search_dir), "--out", str(out)]) == 0

    width, height = report.figure_size(report.read_logdir(search_dir), "accuracy")
    assert png_size(out) == (round(width * report.DPI), round(height * report.DPI))
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:8] == [
        "rank  run      train accuracy  validation accuracy  best step  units  learning_rate",
        "   1  trial_1           0.875                0.875          1  16     0.001",
        "   2  trial_0             0.5                  0.5          1  8      0.01",
        "   3  trial_2            0.25                 0.25          1  8      0.1",
        "best step: the step of the best validation accuracy of the run "
        "(runs are ranked on their final value)",
    ]


def test_report_replaces_only_the_out_file_atomically(runs_dir, tmp_path):
    out = tmp_path / "report.png"
    out.write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("mine")

    assert main(["report", str(runs_dir), "--out", str(out)]) == 0

    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "report.png"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert png_size(out)[0] == round(report.WIDTH * report.DPI)
    assert (out.stat().st_mode & 0o777) == 0o644  # a figure is meant to be shared


def test_out_may_be_a_bare_file_name(runs_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    assert main(["report", str(runs_dir), "--out", "mine.svg"]) == 0

    assert capsys.readouterr().out.startswith("report written to mine.svg\n")
    assert os.listdir(tmp_path) == ["mine.svg"]


def _bad_inputs(tmp_path, runs_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    not_logs = tmp_path / "not_logs"
    (not_logs / "sub").mkdir(parents=True)
    (not_logs / "sub" / "readme.txt").write_text("hello")
    a_file = tmp_path / "file.txt"
    a_file.write_text("hello")
    no_scalars = tmp_path / "no_scalars"
    with tf.summary.create_file_writer(str(no_scalars)).as_default():
        tf.summary.histogram("weights", np.arange(4.0), step=0)
    return [
        ([str(tmp_path / "missing")], rf"LOGDIR: {tmp_path}/missing does not exist$"),
        ([str(a_file)], r"LOGDIR: .*file.txt is a file, not a directory; pass the directory"),
        ([str(empty)], rf"LOGDIR: no TensorBoard event files under {empty}; pass a log"),
        ([str(not_logs)], rf"LOGDIR: no TensorBoard event files under {not_logs};"),
        ([str(no_scalars)], r"LOGDIR: the event files under .* hold no scalar summaries"),
        ([str(runs_dir), "--metric", "f1"],
         r"--metric: 'f1' is not logged under .*; available: accuracy, loss$"),
        ([str(runs_dir), "--out", str(tmp_path / "r.jpg")],
         r"argument --out: must end in \.png or \.svg, received: '.*r\.jpg'$"),
        ([str(runs_dir), "--out", str(tmp_path / "no" / "r.png")],
         rf"--out: directory {tmp_path}/no does not exist$"),
        ([str(runs_dir), "--out", str(tmp_path / "empty.png")],
         r"--out: .*empty\.png is a directory$"),
    ]


def test_bad_inputs_exit_2_with_one_line(runs_dir, tmp_path, capsys):
    (tmp_path / "empty.png").mkdir()
    before = sorted(p.name for p in runs_dir.iterdir())
    for argv, message in _bad_inputs(tmp_path, runs_dir):
        assert main(["report", *argv]) == 2, argv
        stderr = capsys.readouterr().err
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert re.match(r"ktb report: error: " + message, stderr.strip()), stderr
    assert sorted(p.name for p in runs_dir.iterdir()) == before
    written = [p for p in tmp_path.rglob("*") if p.is_file() and ".png" in p.name]
    assert written == []


def test_library_errors_are_toolkit_errors(tmp_path, runs_dir):
    from keras_tb_toolkit.toolkit.errors import ConfigError, LogDirError, ReportError

    with pytest.raises(LogDirError, match="does not exist"):
        report.read_logdir(tmp_path / "missing")
    with pytest.raises(ReportError, match="no TensorBoard event files"):
        report.read_logdir(tmp_path)
    with pytest.raises(ConfigError, match=r"--metric: 'x' is not logged .* accuracy, loss"):
        report.choose_metric(report.read_logdir(runs_dir), "x")
    with pytest.raises(ConfigError, match=r"--out: '.*\.gif' must end in \.png or \.svg"):
        report.write_report(runs_dir, out=tmp_path / "r.gif")
    write_scalars(tmp_path / "batches" / "train", {"batch_loss": [1.0, 0.5]})
    with pytest.raises(ReportError, match="holds only per-batch scalars"):
        report.write_report(tmp_path / "batches")
    assert not (tmp_path / "batches" / "report.png").exists()


def test_rank_runs_puts_nan_and_missing_metric_last():
    def run(name, value):
        scalars = {"validation": {"epoch_loss": ((0, value),)}} if value is not None else {
            "train": {"other": ((0, 1.0),)}}
        return report.RunData(name=name, scalars=scalars, hparams={})

    runs = [run("nan", float("nan")), run("none", None), run("high", 2.0), run("low", 1.0)]
    assert [r.name for r, _, _ in report.rank_runs(runs, "loss")] == ["low", "high", "nan", "none"]


def _drawn(data, metric="accuracy", **options):
    figure = report.report_figure(data, metric, **options)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return figure, canvas.get_renderer()


def _overlaps(a, b):
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


@pytest.mark.slow
@pytest.mark.parametrize("logdir, runs", [("four_trials", 4), ("fifty_trials", 50)])
def test_table_and_legend_texts_never_overlap(logdir, runs, request):
    data = report.read_logdir(request.getfixturevalue(logdir))
    figure, renderer = _drawn(data)

    curves, table_axes = figure.subfigs[0].axes, figure.subfigs[2].axes[0]
    legend = curves[-1].get_legend()
    table = table_axes.tables[0]
    texts = [text for text in [*legend.get_texts(), legend.get_title()] if text.get_text()]
    cells = {key: cell for key, cell in table.get_celld().items() if cell.get_text().get_text()}
    texts += [cell.get_text() for cell in cells.values()]
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in texts]
    assert [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if _overlaps(box_a, box_b)] == []
    for (row, column), cell in cells.items():  # each text inside its own cell
        inside, text = cell.get_window_extent(renderer), cell.get_text().get_window_extent(renderer)
        assert inside.x0 <= text.x0 and text.x1 <= inside.x1, (row, column)
    assert max(box.x1 for _, box in boxes) <= figure.bbox.width
    legend_box = legend.get_window_extent(renderer)
    assert not any(_overlaps(legend_box, ax.get_window_extent(renderer)) for ax in curves)
    ranked = min(runs - len(range(3, 48, 5)) if runs == 50 else runs, 20)
    names = [table[row, 1].get_text().get_text() for row in range(1, ranked + 1)]
    assert sorted(names) == sorted(f"trial_{i:03d}" for i in range(runs)
                                   if runs < 50 or i not in range(3, 48, 5))[-ranked:]
    varied = ["api", "learning_rate", "optimizer", "dense_units", "dropout", "batch_norm",
              "conv_blocks", "kernel_size", "filters_1", "label_smoothing"]
    header = [table[0, column].get_text().get_text().replace("_\n", "_").replace("\n", " ")
              for column in range(3 + len(varied))]
    assert header == ["rank", "trial", "validation accuracy", *sorted(varied)]


@pytest.mark.slow
def test_fifty_one_epoch_trials_drawn_as_markers_and_failures_counted(fifty_trials, capsys):
    data = report.read_logdir(fifty_trials)
    figure, _ = _drawn(data)

    lines = [line for ax in figure.subfigs[0].axes for line in ax.get_lines()]
    assert len(lines) == 2 * 41
    assert {(line.get_marker(), line.get_linestyle(), len(line.get_xdata())) for line in lines} \
        == {("o", "None", 1)}
    assert figure.subfigs[0].axes[0].get_xlim() == (-1.0, 1.0)
    assert figure.subfigs[0].axes[-1].get_legend().get_title().get_text() == "best 10 of 41"
    assert figure._supxlabel.get_text() == (
        "41 of 50 runs ranked; left out: 9 failed: trial_003, trial_008, trial_013, "
        "trial_018, trial_023 and 4 more"
    )
    summary = report.summary_text(data, "accuracy").splitlines()
    assert summary[0] == (f"50 runs under {fifty_trials}/search-20261129-063340, ranked on "
                          "the final accuracy (higher is better; validation, else train)")
    assert summary[1] == "best run: trial_049 (validation accuracy 0.765625 at step 0)"
    assert summary[2:4] == [
        "rank  run        train accuracy  validation accuracy  best step  api         batch_norm  "
        "conv_blocks  dense_units  dropout  filters_1  kernel_size  label_smoothing  "
        "learning_rate  optimizer",
        "   1  trial_049        0.828125             0.765625          0  functional  True        "
        "2            64           0.5      32         5            0.125            "
        "0.01           adamw",
    ]
    assert summary[23:] == [
        "... and 21 more ranked runs, not shown (the best 20 are)",
        "best step: the step of the best validation accuracy of the run "
        "(runs are ranked on their final value)",
        "41 of 50 runs ranked; left out: 9 failed: trial_003 (out of memory in trial 3), "
        "trial_008 (out of memory in trial 8), trial_013 (out of memory in trial 13), "
        "trial_018 (out of memory in trial 18), trial_023 (out of memory in trial 23) "
        "and 4 more",
        "2 hyperparameters are the same in every trial (--all-hparams shows them)",
        "other scalars: --all-metrics lists their final values",
    ]


def _record_ends(path):
    """Offsets where the records of an events file end, read by TF itself."""
    sizes = [8 + 4 + len(record.numpy()) + 4 for record in tf.data.TFRecordDataset(str(path))]
    return list(itertools.accumulate(sizes))


def test_truncated_events_file_is_named_in_the_report(tmp_path, capsys):
    from keras_tb_toolkit.toolkit._event_files import truncated_at

    logs = tmp_path / "logs"
    write_scalars(logs / "whole" / "validation", {"epoch_accuracy": [0.25, 0.375]})
    write_scalars(logs / "cut" / "validation", {"epoch_accuracy": [0.25, 0.5, 0.75]})
    [events] = (logs / "cut" / "validation").iterdir()
    ends = _record_ends(events)
    assert ends[-1] == events.stat().st_size
    events.write_bytes(events.read_bytes()[:-10])  # a writer killed mid-record

    assert truncated_at(events) == ends[-2]
    assert truncated_at(logs / "whole" / "validation" / os.listdir(
        logs / "whole" / "validation")[0]) is None
    data = report.read_logdir(logs)
    [cut] = [run for run in data.runs if run.name == "cut"]
    assert cut.incomplete == ((f"cut/validation/{events.name}", ends[-2], ends[-1] - 10),)
    assert cut.final("accuracy", "validation") == (1, 0.5)
    assert main(["report", str(logs), "--out", str(tmp_path / "r.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "rank  run    validation accuracy  best step"
    assert lines[4:7] == [
        "   1  cut *                  0.5          1",
        "   2  whole                0.375          1",
        "best step: the step of the best validation accuracy of the run "
        "(runs are ranked on their final value)",
    ]
    assert lines[7] == (
        "* read incompletely, an events file ends in a cut record, so the last values may be "
        f"missing: cut (cut/validation/{events.name}: {ends[-2]} of {ends[-1] - 10} bytes)"
    )


def test_read_only_directory_exits_1_with_one_line(runs_dir, tmp_path, monkeypatch, capsys):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    make_temp = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        # What the system answers in a directory without write permission
        # (chmod would not stop root, who runs these tests in containers).
        if dir is not None and os.path.samefile(dir, read_only):
            raise PermissionError(13, "Permission denied", os.path.join(dir, "tmp"))
        return make_temp(*args, dir=dir, **kwargs)

    def read_logdir(*args, **kwargs):
        raise AssertionError("read before the output was found unwritable")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(report, "read_logdir", read_logdir)
    assert main(["report", str(runs_dir), "--out", str(read_only / "r.png")]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"ktb report: error: cannot write {read_only}/r.png: Permission "
                            "denied; pass --out with a file in a writable directory\n")
    assert captured.out == ""
    assert os.listdir(read_only) == []


def test_disk_full_while_writing_exits_1_with_one_line(runs_dir, tmp_path, monkeypatch, capsys):
    def full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    assert main(["report", str(runs_dir), "--out", str(tmp_path / "r.png")]) == 1
    assert capsys.readouterr().err == (
        f"ktb report: error: cannot write {tmp_path}/r.png: No space left on device; "
        "pass --out with a file in a writable directory\n")
    assert os.listdir(tmp_path) == []  # the temporary file is removed


def test_unreadable_event_directory_exits_1_naming_it(runs_dir, tmp_path, monkeypatch, capsys):
    refused = str(runs_dir / "exp" / "b" / "validation")
    listdir = os.listdir

    def refuse(path="."):
        # What a directory without read permission answers (not to root,
        # who runs these tests in containers).
        if os.fspath(path) == refused:
            raise PermissionError(13, "Permission denied", refused)
        return listdir(path)

    monkeypatch.setattr(os, "listdir", refuse)
    assert main(["report", str(runs_dir), "--out", str(tmp_path / "r.png")]) == 1
    assert capsys.readouterr().err == f"ktb report: error: cannot read {refused}: Permission denied\n"
    assert os.listdir(tmp_path) == []


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def _progress(tty, total=40, seconds_per_run=0.5):
    stream = _Stream(tty)
    clock = itertools.count(0.0, seconds_per_run)
    progress = report_cli.Progress(stream=stream, clock=lambda: next(clock))
    for done in range(total + 1):
        progress(done, total)
    return stream.getvalue()


def test_progress_in_a_log_prints_a_line_per_tenth_with_time_left():
    assert _progress(tty=False).splitlines() == [
        f"reading events: {done}/40 directories ({done * 100 // 40}%), "
        f"about {(40 - done) // 2} s left"
        for done in range(4, 40, 4)
    ] + ["reading events: 40/40 directories in 20 s"]
    assert _progress(tty=False, total=200, seconds_per_run=1.0).splitlines()[:2] == [
        "reading events: 2/200 directories (1%), about 3 min 18 s left",
        "reading events: 20/200 directories (10%), about 3 min 00 s left",
    ]
    assert _progress(tty=False, total=1000, seconds_per_run=0.004).splitlines()[-2:] == [
        "reading events: 900/1000 directories (90%), under 1 s left",
        "reading events: 1000/1000 directories in 4 s",
    ]


def test_progress_on_a_terminal_rewrites_one_line():
    text = _progress(tty=True)
    assert text.count("\r") == 37 and text.count("\n") == 1
    assert text.endswith("\r" + "reading events: 40/40 directories in 20 s".ljust(72) + "\n")
    assert "\r" + "reading events: 4/40 directories (10%), about 18 s left".ljust(72) + "\r" in text


def test_progress_is_quiet_when_reading_is_quick():
    assert _progress(tty=False, total=3) == ""
    assert _progress(tty=True, total=3) == ""


def test_read_logdir_reports_progress_per_events_directory(runs_dir):
    calls = []
    report.read_logdir(runs_dir, threads=2, progress=lambda *call: calls.append(call))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_all_hparams_adds_those_the_same_in_every_trial(four_trials, capsys):
    out = four_trials / "all.png"

    assert main(["report", str(four_trials), "--out", str(out), "--all-hparams"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == (
        "rank  run        train accuracy  validation accuracy  best step  api         "
        "batch_norm  conv_blocks  dataset  dense_units  dropout  filters_1  kernel_size  "
        "label_smoothing  learning_rate  optimizer  seed")
    assert not any("the same in every trial" in line for line in lines)
    figure, _ = _drawn(report.read_logdir(four_trials), all_hparams=True)
    table = figure.subfigs[2].axes[0].tables[0]
    header = {cell.get_text().get_text() for (row, _), cell in table.get_celld().items() if row == 0}
    assert {"dataset", "seed"} <= header


def test_short_names_drop_the_folders_every_run_shares():
    from keras_tb_toolkit.toolkit._report_ranking import short_names

    demo = ["demo-1/functional/run", "demo-1/search/trial_0", "demo-1/search/trial_1"]
    assert short_names(demo) == ("demo-1", {
        "demo-1/functional/run": "functional/run",
        "demo-1/search/trial_0": "search/trial_0",
        "demo-1/search/trial_1": "search/trial_1",
    })
    assert short_names(["a/b/run"]) == ("a/b", {"a/b/run": "run"})
    assert short_names(["a/x", "a/x/y"]) == ("a", {"a/x": "x", "a/x/y": "x/y"})
    assert short_names(["."]) == ("", {".": "."})


def test_varied_hparams_count_a_missing_value_as_a_value():
    from keras_tb_toolkit.toolkit._report_ranking import varied_hparams

    def trial(**hparams):
        return report.RunData(name="t", scalars={}, hparams=hparams)

    runs = [trial(lr=0.1, units=8, seed=0), trial(lr=0.1, units=16, seed=0, extra=1),
            trial(lr=0.1, units=16, seed=0, extra=2)]
    assert varied_hparams(runs, ("extra", "lr", "seed", "units")) == ["units", "extra"]


def test_summary_of_scalars_written_in_the_run_directory_itself(tmp_path):
    write_scalars(tmp_path / "solo", {"epoch_accuracy": [0.5, 0.75, 0.625]})

    data = report.read_logdir(tmp_path)

    assert report.summary_text(data, "accuracy").splitlines()[1:5] == [
        "best run: solo (run directory accuracy 0.625 at step 2)",
        "rank  run   run directory accuracy  best step",
        "   1  solo                   0.625          1",
        "best step: the step of the best run directory accuracy of the run "
        "(runs are ranked on their final value)",
    ]
