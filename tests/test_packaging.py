"""The distribution installs one import root, `keras_tb_toolkit`, and nothing
that a user's own `callbacks.py` or `toolkit.py` could shadow or overwrite."""

import glob
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

import keras_tb_toolkit

DISTRIBUTION = "keras-tb-toolkit"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _top_level_names(paths):
    """The first component of each installed path, outside `..` (scripts)."""
    return {str(p).replace("\\", "/").split("/")[0] for p in paths} - {".."}


def _installed():
    """The distribution as installed in site-packages.

    Not `importlib.metadata.distribution`: run from the repository root,
    that finds the `keras_tb_toolkit.egg-info` that building leaves there.
    """
    purelib = sysconfig.get_paths()["purelib"]
    found = [d for d in importlib.metadata.distributions(path=[purelib])
             if d.metadata["Name"] == DISTRIBUTION]
    assert len(found) == 1, f"{DISTRIBUTION} is not installed in {purelib}"
    return found[0]


def test_installed_files_have_one_import_root():
    installed = _installed()
    files = installed.files
    top = _top_level_names(files)
    assert "callbacks" not in top and "toolkit" not in top, sorted(top)
    editable = '"editable": true' in (installed.read_text("direct_url.json") or "")
    if editable:
        # `pip install -e .` lists only its finder; the mapping it holds
        # must still expose the one root and its two subpackages.
        finder = next(f for f in files if str(f).endswith("_finder.py"))
        mapping = finder.read_text()
        assert "'keras_tb_toolkit.callbacks'" in mapping
        assert "'callbacks'" not in mapping and "'toolkit'" not in mapping
        return
    assert {n for n in top if not n.endswith(".dist-info")} == {"keras_tb_toolkit"}
    names = {str(f).replace("\\", "/") for f in files}
    for expected in (
        "keras_tb_toolkit/__init__.py",
        "keras_tb_toolkit/__main__.py",
        "keras_tb_toolkit/callbacks/__init__.py",
        "keras_tb_toolkit/toolkit/cli/__init__.py",
        "keras_tb_toolkit/toolkit/_assets/mnist_mini.npz",
    ):
        assert expected in names


def test_top_level_of_the_distribution_is_only_keras_tb_toolkit():
    top_level = _installed().read_text("top_level.txt")
    assert top_level.split() == ["keras_tb_toolkit"]


def test_version_is_the_distributions():
    assert keras_tb_toolkit.__version__ == _installed().version


@pytest.mark.slow
def test_wheel_holds_only_keras_tb_toolkit(tmp_path):
    """Built from this checkout, so a change to setup.cfg is caught even when
    the package under test was installed editable."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path), ROOT],
        check=True, capture_output=True, timeout=240,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"keras_tb_toolkit"}
    assert "keras_tb_toolkit/toolkit/_assets/mnist_mini.npz" in names
    # setup.cfg lists the packages by hand (package_dir maps two folders):
    # every package folder of the checkout must be in the wheel.
    for top in ("callbacks", "toolkit"):
        for init in glob.glob(os.path.join(ROOT, top, "**", "__init__.py"), recursive=True):
            relative = os.path.relpath(init, ROOT).replace(os.sep, "/")
            assert f"keras_tb_toolkit/{relative}" in names


@pytest.fixture
def user_project(tmp_path):
    """A user's project directory with its own `callbacks.py` and `toolkit.py`."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "callbacks.py").write_text("MARKER = 'user callbacks'\n")
    (project / "toolkit.py").write_text("MARKER = 'user toolkit'\n")
    return project


def _run(command, cwd, timeout=120, **env):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_a_users_callbacks_and_toolkit_modules_do_not_shadow_ours(user_project):
    script = textwrap.dedent("""
        from keras_tb_toolkit.callbacks import Checkpoint
        import keras_tb_toolkit.toolkit.cli
        import callbacks, toolkit
        print(Checkpoint.__module__)
        print(callbacks.MARKER, "|", toolkit.MARKER)
    """)
    result = _run([sys.executable, "-c", script], cwd=user_project)
    assert result.returncode == 0, result.stderr
    module, markers = result.stdout.strip().splitlines()[-2:]
    assert module.startswith("keras_tb_toolkit.callbacks")
    assert markers == "user callbacks | user toolkit"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ktb", "python -m keras_tb_toolkit"])
def test_ktb_trains_from_a_project_with_its_own_callbacks_module(user_project, how):
    command = (
        [os.path.join(BIN, "ktb")] if how == "ktb"
        else [sys.executable, "-m", "keras_tb_toolkit"]
    )
    logdir = user_project / "logs"
    # The console script does not put the working directory on sys.path;
    # PYTHONPATH does, as it does in a user's project set up that way.
    result = _run(
        [*command, "train", "--limit", "256", "--epochs", "1",
         "--logdir", str(logdir), "--run-name", "shadowed"],
        cwd=user_project, timeout=240, PYTHONPATH=str(user_project),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test accuracy:" in result.stdout
    assert (logdir / "sequential" / "shadowed" / "model.keras").is_file()
