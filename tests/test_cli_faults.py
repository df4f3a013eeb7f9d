"""Every failure of `ktb` is one line: status 2 for usage, 1 at run time.

Usage errors are answered before TensorFlow loads and write nothing; a
fault at run time (a full disk, a corrupt manifest) leaves no temporary
file behind.
"""

import errno
import os

import pytest

from helpers import assert_refused_before_tensorflow_loads, files_under
from keras_tb_toolkit.toolkit import cli, training
from keras_tb_toolkit.toolkit.config import TrainConfig, write_config

BIG = str(10**20)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--seed", "-1"],
         "ktb train: error: argument --seed: must be an integer from 0 to 4294967295, received: '-1'"),
        (["train", "--epochs", BIG],
         f"ktb train: error: argument --epochs: must be at most 1000000, received: '{BIG}'"),
        (["train", "--batch-size", BIG],
         f"ktb train: error: argument --batch-size: must be at most 1000000, received: '{BIG}'"),
        (["demo", "--seed", "-1"],
         "ktb demo: error: argument --seed: must be an integer from 0 to 4294967295, received: '-1'"),
    ],
)
def test_numbers_out_of_range_are_refused_before_tensorflow_loads(tmp_path, argv, message):
    assert_refused_before_tensorflow_loads(tmp_path, argv, message)


def _stored_run(logdir, **settings):
    """A run directory with the config.json `ktb train` writes, and nothing else."""
    config = TrainConfig(logdir=str(logdir), run_name="r", limit=128, epochs=1,
                         batch_size=64, **settings)
    run_dir = logdir / "sequential" / "r"
    run_dir.mkdir(parents=True)
    write_config(config, str(run_dir))
    return run_dir


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "3"], "--resume: --epochs 3 differs from run 'r', started with 1; "
         "a resumed run keeps its configuration: leave the flag out, or start a new run "
         "(another --run-name) with it"),
        (["--learning-rate", "0.01"], "--resume: --learning-rate 0.01 differs from run 'r', "
         "started with 0.001;"),
        (["--dataset", "mnist"], "--resume: --dataset mnist differs from run 'r', "
         "started with mnist-mini;"),
        (["--deterministic"], "--resume: --deterministic True differs from run 'r', "
         "started with False;"),
    ],
)
def test_resume_refuses_settings_that_differ_from_the_run(tmp_path, capsys, flags, message):
    logdir = tmp_path / "logs"
    _stored_run(logdir)
    before = files_under(tmp_path)
    argv = ["train", "--resume", "--run-name", "r", "--logdir", str(logdir), *flags]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ktb train: error: {message}")
    assert err.count("\n") == 1
    assert files_under(tmp_path) == before


def test_resume_accepts_the_settings_the_run_started_with(tmp_path):
    from keras_tb_toolkit.toolkit.cli import train as train_command

    logdir = tmp_path / "logs"
    _stored_run(logdir, seed=7)
    args = cli.build_parser().parse_args(
        ["train", "--resume", "--run-name", "r", "--logdir", str(logdir),
         "--epochs", "1", "--seed", "7", "--limit", "128", "--dataset", "mnist-mini"]
    )
    stored = TrainConfig(logdir=str(logdir), run_name="r", limit=128, epochs=1,
                         batch_size=64, seed=7)
    train_command.refuse_changed_settings(args, stored)  # same values: no error


def test_resume_without_config_json_is_one_line_and_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "logs" / "sequential" / "r"
    run_dir.mkdir(parents=True)
    argv = ["train", "--resume", "--run-name", "r", "--logdir", str(tmp_path / "logs")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ktb train: error: --resume: {run_dir}/config.json is missing "
                          "or unreadable")
    assert err.count("\n") == 1
    assert os.listdir(run_dir) == []


@pytest.mark.timeout(120)
def test_a_corrupt_manifest_is_one_line_and_exit_1(tmp_path, capsys):
    logdir = tmp_path / "logs"
    run_dir = _stored_run(logdir)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "manifest.json").write_text("{not json")
    before = files_under(tmp_path)
    argv = ["train", "--resume", "--run-name", "r", "--logdir", str(logdir)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("ktb train: error: ")
    assert "manifest.json" in err and err.rstrip().endswith("(--verbose shows the traceback)")
    assert err.count("\n") == 1
    assert files_under(tmp_path) == before


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_disk_that_fills_at_the_final_model_is_one_line_and_leaves_no_temporary_file(
        tmp_path, capsys, monkeypatch):
    """The copy into model.keras fails: exit 1, and neither temporary file stays."""
    def disk_full(source, target):
        target.write(source.read(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training.shutil, "copyfileobj", disk_full)
    logdir = tmp_path / "logs"
    argv = ["train", "--limit", "128", "--epochs", "1", "--batch-size", "64",
            "--logdir", str(logdir), "--run-name", "r"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "ktb train: error: OSError: [Errno 28] No space left on device "
        "(--verbose shows the traceback)"
    )
    written = files_under(logdir)
    assert [f for f in written if "tmp" in os.path.basename(f)] == []
    assert "sequential/r/model.keras" not in written
    assert "sequential/r/config.json" in written  # the run can be resumed


def test_demo_logdir_under_a_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "file").write_text("a file where a directory should be")
    before = files_under(tmp_path)
    assert cli.main(["demo", "--logdir", str(tmp_path / "file" / "logs")]) == 2
    err = capsys.readouterr().err
    assert err == (f"ktb demo: error: --logdir: {tmp_path}/file/logs cannot be created: "
                   f"{tmp_path}/file is a file, not a directory\n")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 10**20, f"--epochs must be at most 1000000, received: {10**20}"),
        ("batch_size", 10**6 + 1, "--batch-size must be at most 1000000, received: 1000001"),
        ("seed", -1, "--seed must be an integer from 0 to 4294967295, received: -1"),
        ("seed", 2**32, "--seed must be an integer from 0 to 4294967295, received: 4294967296"),
        ("seed", 1.5, "--seed must be an integer from 0 to 4294967295, received: 1.5"),
    ],
)
def test_validate_checks_the_ranges_tensorflow_accepts(tmp_path, field, value, message):
    from keras_tb_toolkit.toolkit.errors import ConfigError

    config = TrainConfig(logdir=str(tmp_path / "logs"), **{field: value})
    with pytest.raises(ConfigError, match=f"^{message}$"):
        config.validate()
    assert os.listdir(tmp_path) == []


def test_resuming_a_run_stored_with_too_many_epochs_is_one_line(tmp_path, capsys):
    """Before the bound, `--epochs 10**20` left such a config.json behind."""
    logdir = tmp_path / "logs"
    run_dir = logdir / "sequential" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text('{"epochs": %d, "limit": 128}' % 10**20)
    argv = ["train", "--resume", "--run-name", "r", "--logdir", str(logdir)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == (
        f"ktb train: error: --epochs must be at most 1000000, received: {10**20}\n"
    )
    assert os.listdir(run_dir) == ["config.json"]
