import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import events
from keras_tb_toolkit.toolkit import cli, training
from keras_tb_toolkit.toolkit.config import TrainConfig, read_config

TINY = ["--limit", "128", "--epochs", "2", "--batch-size", "64"]


def _files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(root) for f in files
    )


@pytest.mark.slow
def test_train_writes_epoch_scalars_and_the_model(tmp_path, capsys):
    logdir = tmp_path / "logs"
    assert cli.main(["train", *TINY, "--logdir", str(logdir), "--run-name", "r1"]) == 0
    out = capsys.readouterr().out
    run_dir = logdir / "sequential" / "r1"
    assert f"run directory: {run_dir}" in out
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0
    assert (run_dir / "model.keras").is_file()
    for split in ("train", "validation"):
        scalars = events.scalars(run_dir / split)
        assert {"epoch_loss", "epoch_accuracy"} <= set(scalars)
        assert [step for step, _ in scalars["epoch_loss"]] == [0, 1]


@pytest.mark.slow
def test_train_attaches_every_toolkit_callback(tmp_path):
    config = TrainConfig(epochs=1, batch_size=64, limit=128, logdir=str(tmp_path), run_name="all")
    result = training.train(config, verbose=0)
    run_dir = result.run_dir
    layers = ["conv_1", "conv_2", "conv_3", "dense", "predictions"]
    variables = {f"{k}/{layer}/{v}" for k in ("weights", "gradients") for layer in layers for v in ("kernel", "bias")}
    activations = {f"activations/{layer}" for layer in layers + ["pool_1", "pool_2", "flatten"]}
    train_tags = set(events.load(os.path.join(run_dir, "train")).Tags()["tensors"])
    assert train_tags == {
        "epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_steps_per_second",
        "epoch_examples_per_second", "gradient_norm", "history", "grad_cam",
        "custom_scalars__config__",
        "model/summary", "model/params/trainable", "model/params/non_trainable", "model/params/total",
        *variables, *activations, *{f"update_ratio/{layer}" for layer in layers},
    }
    assert events.load(os.path.join(run_dir, "train")).Tags()["graph"]
    validation_tags = set(events.load(os.path.join(run_dir, "validation")).Tags()["tensors"])
    per_class = {f"{m}/{c}" for m in ("precision", "recall") for c in range(10)}
    assert validation_tags == {
        "epoch_loss", "epoch_accuracy", "confusion_matrix", "mistakes", "mistakes_table",
        *per_class, *{f"pr_curve/{c}/pr_curves" for c in range(10)},
    }
    # No trace unless asked for (--profile-batches).
    assert not os.path.exists(os.path.join(run_dir, "train", "plugins", "profile"))
    for name in ("plots/history.png", "plots/history.svg", "train/projector_config.pbtxt",
                 "train/metadata.tsv", "train/sprite.png", "checkpoints/manifest.json",
                 "config.json", "model.keras"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    with open(os.path.join(run_dir, "train", "metadata.tsv")) as handle:
        assert len(handle.read().splitlines()) == 1 + 128  # header + the validation sample (limit 128)


@pytest.mark.slow
def test_scalars_read_back_equal_the_history(tmp_path):
    config = TrainConfig(api="subclassed", epochs=2, batch_size=64, limit=128,
                         logdir=str(tmp_path))
    result = training.train(config, verbose=0)
    train = events.scalars(os.path.join(result.run_dir, "train"))
    validation = events.scalars(os.path.join(result.run_dir, "validation"))
    for key, values in result.history.items():
        store, tag = (validation, key[4:]) if key.startswith("val_") else (train, key)
        logged = [value for _, value in store[f"epoch_{tag}"]]
        np.testing.assert_allclose(logged, values, rtol=1e-6)


@pytest.mark.slow
def test_run_names_are_unique_and_never_overwritten(tmp_path, capsys):
    args = ["train", *TINY[:2], "--epochs", "1", "--logdir", str(tmp_path), "--api", "functional"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0
    runs = sorted(os.listdir(tmp_path / "functional"))
    assert len(runs) == 2 and all(r.startswith("run-") for r in runs)
    before = _files(tmp_path)
    capsys.readouterr()
    assert cli.main(args + ["--run-name", runs[0]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"--run-name: {tmp_path / 'functional' / runs[0]} already exists" in err
    assert _files(tmp_path) == before


def _bad_npz(tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, x_train=np.zeros((4, 28, 28), np.uint8), y_train=np.full(4, 12),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.int64))
    return str(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--api", "resnet"], "argument --api: invalid choice: 'resnet' (choose from 'sequential', 'functional', 'subclassed')"),
        (["--dataset", "cifar10"], "argument --dataset: invalid choice: 'cifar10'"),
        (["--epochs", "0"], "argument --epochs: must be a positive integer, received: '0'"),
        (["--batch-size", "-1"], "argument --batch-size: must be a positive integer, received: '-1'"),
        (["--batch-size", "many"], "argument --batch-size: must be a positive integer, received: 'many'"),
        (["--learning-rate", "nan"], "argument --learning-rate: must be a finite number > 0, received: 'nan'"),
        (["--data", "{tmp}/missing.npz"], "--data {tmp}/missing.npz: no such file"),
        (["--data", "{bad}"], "--data {bad}: y_train has labels from 12 to 12; expected 0..9"),
        (["--logdir", "{tmp}/file/logs"], "--logdir: {tmp}/file/logs cannot be created: {tmp}/file is a file, not a directory"),
        (["--data", "x.npz", "--dataset", "mnist"], "argument --dataset: not allowed with argument --data"),
        (["--run-name", "a/b"], "--run-name: 'a/b' is not a valid name"),
        (["--profile-batches", "0"], "argument --profile-batches: must be START,STOP batches with 1 <= START <= STOP (or one batch N >= 1), received: '0'"),
        (["--profile-batches", "5,2"], "argument --profile-batches: must be START,STOP batches with 1 <= START <= STOP (or one batch N >= 1), received: '5,2'"),
        (["--profile-batches", "x"], "argument --profile-batches: must be START,STOP batches with 1 <= START <= STOP (or one batch N >= 1), received: 'x'"),
        (["--profile-batches", "1,2,3"], "argument --profile-batches: must be START,STOP batches with 1 <= START <= STOP (or one batch N >= 1), received: '1,2,3'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "file").write_text("a file where a directory should be")
    values = {"tmp": str(tmp_path), "bad": _bad_npz(tmp_path)}
    argv = [a.format(**values) for a in argv]
    if "--logdir" not in argv:
        argv += ["--logdir", str(tmp_path / "logs")]
    before = _files(tmp_path)
    assert cli.main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ktb train: error: ")
    assert message.format(**values) in err
    assert err.count("\n") == 1
    assert _files(tmp_path) == before
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("command", [["ktb"], [sys.executable, "-m", "keras_tb_toolkit"]])
def test_console_script_and_module_are_the_same_command(command):
    bin_dir = os.path.dirname(sys.executable)
    if command == ["ktb"]:
        command = [os.path.join(bin_dir, "ktb")]
    result = subprocess.run(
        command + ["train", "--epochs", "-2"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr == (
        "ktb train: error: argument --epochs: must be a positive integer, received: '-2'\n"
    )


def test_run_directories_started_in_the_same_second_get_suffixes(tmp_path, monkeypatch):
    import datetime

    from keras_tb_toolkit.toolkit import runs

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(runs.datetime, "datetime", Frozen)
    made = [runs.create_run_dir(tmp_path, "exp") for _ in range(3)]
    assert [os.path.basename(m) for m in made] == [
        "run-20260102-030405", "run-20260102-030405-2", "run-20260102-030405-3"
    ]


def test_validate_checks_without_loading_and_load_arrays_names_the_flag(tmp_path):
    from keras_tb_toolkit.toolkit.errors import ConfigError, DataError

    missing = str(tmp_path / "missing.npz")
    config = TrainConfig(data=missing, logdir=str(tmp_path / "logs"))
    assert config.validate() is config  # the data file is not looked at
    with pytest.raises(DataError, match=rf"^--data {missing}: no such file$"):
        config.load_arrays()
    with pytest.raises(ConfigError, match=r"^--epochs must be a positive integer, received: 0$"):
        TrainConfig(epochs=0).validate()
    assert TrainConfig().load_arrays().x_train.shape == (10000, 28, 28)
    assert not (tmp_path / "logs").exists()


def test_model_save_is_atomic_and_cleans_up_after_a_failure(tmp_path, monkeypatch):
    import errno

    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "model.keras"
    training.save_model_atomically(model, str(path))
    saved = path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)

    def disk_full(target):
        with open(target, "wb") as handle:
            handle.write(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(model, "save", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        training.save_model_atomically(model, str(path))
    assert os.listdir(tmp_path) == ["model.keras"]  # no temporary file left
    assert path.read_bytes() == saved
    assert keras.models.load_model(path).output_shape == (None, 1)


@pytest.mark.slow
def test_profile_batches_writes_a_trace_into_the_run(tmp_path, capsys):
    from keras_tb_toolkit.callbacks import profile_plugin_installed

    assert cli.main(["train", *TINY, "--logdir", str(tmp_path), "--run-name", "p",
                     "--profile-batches", "2,3"]) == 0
    traces = glob.glob(str(tmp_path / "sequential" / "p" / "train" / "plugins" / "profile"
                           / "*" / "*.xplane.pb"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0
    note = ('ktb train: note: the trace is written, but TensorBoard shows it only with '
            'the Profile plugin: pip install "keras-tb-toolkit[profile]"\n')
    err = capsys.readouterr().err
    if profile_plugin_installed():
        assert note not in err
    else:
        assert note in err


def test_profile_batches_are_checked_before_anything_is_written(tmp_path):
    from keras_tb_toolkit.toolkit.cli.train import profile_batches
    from keras_tb_toolkit.toolkit.errors import ConfigError

    assert profile_batches("2,4") == (2, 4)
    assert profile_batches("7") == (7, 7)
    for bad in ((0, 2), (5, 2), (1,), (1.0, 2), (True, 2), "1,2"):
        with pytest.raises(ConfigError, match=(
                r"^--profile-batches must be START,STOP batches with 1 <= START <= STOP, "
                rf"received: {re.escape(repr(bad))}$")):
            TrainConfig(logdir=str(tmp_path / "logs"), profile_batches=bad).validate()
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_train_and_resume_on_a_url_logdir(capsys):
    import uuid

    import tensorflow as tf

    logdir = f"ram://ktb-{uuid.uuid4().hex}/logs"
    run_dir = f"{logdir}/sequential/r"
    args = ["train", "--limit", "64", "--epochs", "1", "--batch-size", "64",
            "--logdir", logdir, "--run-name", "r"]
    try:
        assert cli.main(args) == 0, capsys.readouterr().err
        assert f"run directory: {run_dir}" in capsys.readouterr().out
        for name in ("config.json", "model.keras"):
            assert tf.io.gfile.exists(f"{run_dir}/{name}"), name
        for split in ("train", "validation"):
            assert tf.io.gfile.glob(f"{run_dir}/{split}/events.out.tfevents.*"), split
        assert tf.io.gfile.glob(f"{run_dir}/checkpoints/epoch=0001-*.keras")
        assert cli.main([*args, "--resume"]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert f"resuming {logdir}/sequential/r with its stored configuration" in out
        assert "resumed after the last epoch: nothing left to train" in out
        # Resumed from the checkpoint on ram://: the one epoch is done, none is trained.
        result = training.train(read_config(logdir, "sequential", "r"), verbose=0)
        assert (result.initial_epoch, result.history) == (1, {})
        assert tf.io.gfile.exists(result.model_path)
    finally:
        if tf.io.gfile.exists(logdir):
            tf.io.gfile.rmtree(logdir)


def test_an_unknown_url_scheme_for_logdir_is_one_line_exit_2(tmp_path, capsys):
    before = _files(tmp_path)
    assert cli.main(["train", "--logdir", "nosuchfs://bucket/logs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ktb train: error: --logdir: this TensorFlow has no file "
                          "system for nosuchfs://, received: 'nosuchfs://bucket/logs'")
    assert err.count("\n") == 1
    assert _files(tmp_path) == before


@pytest.mark.slow
def test_mirrored_strategy_trains_with_every_callback(tmp_path, capsys):
    assert cli.main(["train", "--strategy", "mirrored", "--limit", "64", "--epochs", "1",
                     "--batch-size", "32", "--logdir", str(tmp_path), "--run-name", "m"]) == 0
    run_dir = tmp_path / "sequential" / "m"
    assert (run_dir / "model.keras").is_file()
    assert {"epoch_loss", "gradient_norm"} <= set(events.scalars(run_dir / "train"))
