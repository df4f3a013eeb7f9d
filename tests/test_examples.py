"""The example notebooks run top to bottom in a real Jupyter kernel.

Each notebook is executed by nbclient in an ipykernel started from this
interpreter, with its log directory in `tmp_path` (the notebooks read
`KTB_EXAMPLES_LOGDIR`). The tests then check the outputs that matter: each
live plot is one image output whose display id the kernel updated several
times, and the runs the notebook wrote hold the expected event data.
"""

import collections
import json
import os
import pathlib
import re
import sys
import time

import nbclient
import nbformat
import pytest
from events import images, scalars

from keras_tb_toolkit.toolkit import report

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = ("01_three_api_styles.ipynb", "02_custom_training_loop.ipynb",
             "03_hyperparameter_search.ipynb")
# Each notebook runs in about 20 to 40 s on two busy CPU cores and is meant
# to stay under a minute; a cell that hangs fails its test instead of
# stalling the suite, and the whole test (kernel start included) is bounded.
CELL_TIMEOUT_S = 150  # A cell trains; the suite runs two tests at a time (-n 2).
NOTEBOOK_TIMEOUT_S = 300
LIVE_PLOT_TAG = "live-plot"


class RecordingClient(nbclient.NotebookClient):
    """A `NotebookClient` that records each cell's display messages.

    nbclient folds an `update_display_data` message into the output it
    updates, so the executed notebook alone cannot tell one display updated
    ten times from one display: the messages are kept here, per cell index,
    as `(msg_type, display_id)`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.display_messages = collections.defaultdict(list)

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in ("display_data", "update_display_data"):
            display_id = msg["content"].get("transient", {}).get("display_id")
            self.display_messages[cell_index].append((msg["msg_type"], display_id))
        return super().process_message(msg, cell, cell_index)


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A `python3` kernel spec for this interpreter, ahead of any other.

    A user's own `python3` spec could start another Python without this
    package; a spec in `JUPYTER_PATH` wins over it, and the runtime and
    IPython directories stay inside `tmp_path`.
    """
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (keras-tb-toolkit tests)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    logdir = tmp_path / "logs"
    monkeypatch.setenv("KTB_EXAMPLES_LOGDIR", str(logdir))
    for name in ("KTB_EXAMPLES_TRAIN_IMAGES", "KTB_EXAMPLES_EPOCHS"):
        monkeypatch.delenv(name, raising=False)
    return logdir


def execute(name, workdir):
    """Runs notebook `name` in `workdir`; returns (notebook, client, seconds)."""
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    client = RecordingClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.monotonic()
    client.execute()
    seconds = time.monotonic() - start
    print(f"{name}: {seconds:.1f} s")
    return notebook, client, seconds


def assert_live_plots_updated_in_place(notebook, client):
    """Each live-plot cell shows one image, displayed once and updated."""
    cells = [(index, cell) for index, cell in enumerate(notebook.cells)
             if LIVE_PLOT_TAG in cell.metadata.get("tags", [])]
    assert cells, f"no cell tagged {LIVE_PLOT_TAG!r}"
    for index, cell in cells:
        image_outputs = [output for output in cell.outputs
                         if "image/png" in output.get("data", {})]
        assert len(image_outputs) == 1, (index, cell.outputs)
        identified = [(kind, display_id) for kind, display_id
                      in client.display_messages[index] if display_id]
        kinds = [kind for kind, _ in identified]
        assert kinds.count("display_data") == 1, identified
        assert kinds[0] == "display_data" and kinds.count("update_display_data") > 1
        assert len({display_id for _, display_id in identified}) == 1, identified
        printed = "".join(output.get("text", "") for output in cell.outputs
                          if output.output_type == "stream")
        redraws = int(re.search(r"LivePlot: (\d+) redraws", printed).group(1))
        assert redraws == len(identified)


def epoch_steps(run_dir, tag="epoch_loss"):
    return [step for step, _ in scalars(run_dir)[tag]]


def test_every_notebook_is_tested():
    assert sorted(path.name for path in EXAMPLES.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_three_api_styles(kernel_env, tmp_path):
    notebook, client, _ = execute("01_three_api_styles.ipynb", tmp_path)
    assert_live_plots_updated_in_place(notebook, client)
    runs = {"sequential", "functional", "subclassed"}
    assert runs <= set(os.listdir(kernel_env))
    for run in runs:
        run_dir = kernel_env / run
        assert (run_dir / "model.keras").is_file()
        assert (run_dir / "plots" / "history.png").is_file()
        assert (run_dir / "checkpoints" / "manifest.json").is_file()
        assert "history" in images(run_dir / "train")
        # The sequential run was resumed from its checkpoint for a third epoch.
        expected = [0, 1, 2] if run == "sequential" else [0, 1]
        assert epoch_steps(run_dir / "train") == expected, run
        assert epoch_steps(run_dir / "validation") == expected, run


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_custom_training_loop(kernel_env, tmp_path):
    notebook, client, _ = execute("02_custom_training_loop.ipynb", tmp_path)
    assert_live_plots_updated_in_place(notebook, client)
    run_dir = kernel_env / "custom-loop"
    assert epoch_steps(run_dir / "train") == [0, 1]
    assert epoch_steps(run_dir / "validation", "epoch_accuracy") == [0, 1]
    assert "history" in images(run_dir / "train")
    assert (run_dir / "checkpoints" / "manifest.json").is_file()
    # notebook.board showed TensorBoard, served from the kernel, in a frame.
    [cell] = [cell for cell in notebook.cells if "board" in cell.metadata.get("tags", [])]
    [frame] = [output.data["text/html"] for output in cell.outputs
               if "text/html" in output.get("data", {})]
    assert re.search(r'<iframe src="http://127\.0\.0\.1:\d+/"', frame), frame


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S)
def test_hyperparameter_search(kernel_env, tmp_path):
    notebook, _, _ = execute("03_hyperparameter_search.ipynb", tmp_path)
    logs = report.read_logdir(kernel_env / "search")
    trials = sorted(trial.name for trial in logs.trials)
    assert trials == ["trial_0", "trial_1"]
    assert "learning_rate" in logs.hparam_names
    # The notebook printed each session it read back.
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.outputs
                      if output.output_type == "stream")
    for trial in trials:
        assert f"{trial}: val_accuracy" in printed
