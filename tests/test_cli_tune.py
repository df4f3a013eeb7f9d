"""`ktb tune`: bad input is one line, exit 2, nothing written; an exposed
chief is warned about."""

import pytest

from helpers import assert_refused_before_tensorflow_loads, files_under
from keras_tb_toolkit.toolkit import cli, tuning

BIG = str(10**20)

WARNING = (
    "ktb tune: warning: --chief {address} is not a loopback address: the oracle "
    "service speaks plaintext gRPC with no authentication, so anyone who reaches "
    "port 8000 can read and steer the search; bind a private interface and firewall "
    "the port to the workers, or tunnel it (ssh -N -L 8000:127.0.0.1:8000 chief-host)"
)


@pytest.mark.parametrize(
    "address, warned",
    [("0.0.0.0:8000", True), ("10.0.0.1:8000", True), ("127.0.0.1:8000", False),
     ("localhost:8000", False), ("::1:8000", False)],
)
def test_the_chief_warns_once_unless_bound_to_loopback(tmp_path, capsys, monkeypatch,
                                                       address, warned):
    roles = []
    monkeypatch.setattr(tuning, "set_distributed_role",
                        lambda *role, **kwargs: roles.append((role, kwargs)))

    def search_interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the chief waits for workers

    monkeypatch.setattr(tuning, "run_search", search_interrupted)
    argv = ["tune", "--chief", address, "--logdir", str(tmp_path), "--limit", "64"]
    assert cli.main(argv) == 130
    lines = capsys.readouterr().err.splitlines()
    expected = [WARNING.format(address=address)] if warned else []
    assert lines == [*expected, "ktb tune: interrupted"]
    assert roles == [((address.rpartition(":")[0], "8000"), {"tuner_id": "chief"})]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tune", "--seed", str(2**32)],
         "ktb tune: error: argument --seed: must be an integer from 0 to 4294967295, received: '4294967296'"),
        (["tune", "--epochs", BIG],
         f"ktb tune: error: argument --epochs: must be at most 1000000, received: '{BIG}'"),
        (["tune", "--batch-size", BIG],
         f"ktb tune: error: argument --batch-size: must be at most 1000000, received: '{BIG}'"),
    ],
)
def test_numbers_out_of_range_are_refused_before_tensorflow_loads(tmp_path, argv, message):
    assert_refused_before_tensorflow_loads(tmp_path, argv, message)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--name", "a/b"], "--name: 'a/b' is not a valid name"),
        (["--logdir", "{tmp}/file/logs"],
         "--logdir: {tmp}/file/logs cannot be created: {tmp}/file is a file, not a directory"),
        (["--data", "{tmp}/missing.npz"], "--data {tmp}/missing.npz: no such file"),
        (["--worker", "127.0.0.1:8000"], "--worker needs --worker-id N"),
        (["--worker-id", "1"], "--worker-id is only for --worker HOST:PORT"),
        (["--worker", "127.0.0.1:8000", "--worker-id", "0", "--overwrite"],
         "--overwrite: only the chief (or a single process) may start afresh"),
        (["--chief", "127.0.0.1"], "argument --chief: expected HOST:PORT with a port in "
         "1..65535, received: '127.0.0.1'"),
        (["--max-trials", "0"], "argument --max-trials: must be a positive integer, received: '0'"),
        (["--tuner", "grid-search"], "argument --tuner: invalid choice: 'grid-search'"),
    ],
)
def test_tune_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "file").write_text("a file where a directory should be")
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--logdir" not in argv:
        argv += ["--logdir", str(tmp_path / "logs")]
    before = files_under(tmp_path)
    assert cli.main(["tune", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ktb tune: error: " + message.format(tmp=tmp_path)), err
    assert err.count("\n") == 1
    assert files_under(tmp_path) == before

