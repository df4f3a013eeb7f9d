"""`ktb` in a terminal: no TensorFlow start-up noise, real errors kept, --version."""

import os
import subprocess
import sys
import textwrap

import pytest

from keras_tb_toolkit.toolkit import cli
from keras_tb_toolkit.toolkit.cli import _quiet

BIN = os.path.dirname(sys.executable)
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795934577.224381    6362 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.",
    "I0000 00:00:1795934577.334733    6362 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1795934581.830359    6362 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
REAL = [
    "W0000 00:00:1795934581.830359    6362 op_kernel.cc:1857] OP_REQUIRES failed at "
    "save_restore_v2_ops.cc:169 : PERMISSION_DENIED",
    "E0000 00:00:1795934581.830359    6362 cuda_blas.cc:11] Unable to register cuBLAS factory",
    "Traceback (most recent call last):",
    "ktb train: error: --epochs: must be a positive integer, received: '0'",
    "UserWarning: HistoryPlotter: could not save plots/history.png",
]


@pytest.mark.parametrize("line", NOISE)
def test_start_up_noise_is_recognised(line):
    assert _quiet.is_noise(line)


@pytest.mark.parametrize("line", REAL)
def test_real_warnings_and_errors_are_not_noise(line):
    assert not _quiet.is_noise(line)


def _python(script, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
        timeout=120, env={**os.environ, **env},
    )


def test_the_filter_drops_noise_written_to_fd_2_and_keeps_the_rest():
    payload = ("\n".join(NOISE + REAL) + "\n").encode()
    script = f"""
        import os, sys
        from keras_tb_toolkit.toolkit.cli import _quiet
        assert _quiet.filter_native_stderr()
        os.write(2, {payload!r})
        print("from python", file=sys.stderr)
        os.write(2, b"no newline at the end")
    """
    result = _python(script)
    assert result.returncode == 0
    assert result.stderr.decode().splitlines() == REAL + ["from python", "no newline at the end"]


def test_version_prints_every_library_without_loading_tensorflow():
    script = """
        import sys
        from keras_tb_toolkit.toolkit import cli
        status = cli.main(["--version"])
        print("tensorflow loaded" if "tensorflow" in sys.modules else "tensorflow not loaded")
        sys.exit(status)
    """
    result = _python(script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [
        "keras-tb-toolkit", "tensorflow", "keras", "keras-tuner", "tensorboard"]
    assert all(len(line.split()) == 2 for line in lines[:-1])
    assert lines[-1] == "tensorflow not loaded"


def test_version_in_process(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("keras-tb-toolkit ")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ktb_train_prints_no_start_up_noise_unless_verbose(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}

    def train(*extra):
        return subprocess.run(
            [os.path.join(BIN, "ktb"), "train", "--limit", "128", "--epochs", "1",
             "--logdir", str(tmp_path), *extra],
            capture_output=True, text=True, timeout=240, env=env,
        )

    quiet = train()
    assert quiet.returncode == 0, quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if _quiet.is_noise(line)] == []
    assert "absl" not in quiet.stderr and "cuInit" not in quiet.stderr
    assert "test accuracy:" in quiet.stdout
    verbose = train("--verbose")
    assert verbose.returncode == 0, verbose.stderr
    if "tensorflow.python.framework" not in verbose.stderr and not os.path.exists("/dev/nvidia0"):
        # Without a GPU, TensorFlow announces it: --verbose shows it again.
        assert any(_quiet.is_noise(line) for line in verbose.stderr.splitlines())


@pytest.mark.parametrize("verbose", [False, True])
def test_a_fault_at_run_time_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch, verbose):
    from keras_tb_toolkit.toolkit import training

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "model.keras"))

    monkeypatch.setattr(training, "train", disk_full)
    argv = ["train", "--limit", "128", "--logdir", str(tmp_path)] + (["--verbose"] if verbose else [])
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert last.startswith("ktb train: error: OSError: [Errno 28] No space left on device")
    if verbose:
        assert "Traceback (most recent call last)" in err
        assert not last.endswith("(--verbose shows the traceback)")
    else:
        assert err.count("\n") == 1
        assert last.endswith("(--verbose shows the traceback)")
