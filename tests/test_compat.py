"""The dependencies' private names the toolkit relies on are still there.

Each compatibility module lists what it relies on (`RELIED_ON`) and says
why in its docstring. A failure here, after an upgrade, names the installed
version and the module to rework, instead of a search or a board failing
halfway.
"""

import importlib
import importlib.metadata
import inspect

import pytest

TENSORBOARD_COMPAT = "keras_tb_toolkit.toolkit._tensorboard_compat"
KERAS_TUNER_COMPAT = "keras_tb_toolkit.toolkit.tuning._keras_tuner_compat"


def load_compat(distribution, module_name):
    """The compatibility module, or a failure naming the installed version."""
    version = importlib.metadata.version(distribution)
    try:
        module = importlib.import_module(module_name)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{distribution} {version}: {module_name} cannot load ({error}); "
                    "see its docstring for what it relies on")
    gone = []
    for owner, path in module.RELIED_ON:
        try:
            found = importlib.import_module(owner)
            for part in path.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            gone.append(f"{owner}.{path}")
    assert not gone, (
        f"{distribution} {version} no longer has {', '.join(gone)}; rework {module_name}"
    )
    return module, version


def test_tensorboard_still_has_what_the_toolkit_relies_on():
    compat, version = load_compat("tensorboard", TENSORBOARD_COMPAT)
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    for succeeded, status in ((True, api_pb2.STATUS_SUCCESS), (False, api_pb2.STATUS_FAILURE)):
        [value] = summary_pb2.Summary.FromString(compat.session_end_summary(succeeded)).value
        assert value.metadata.plugin_data.plugin_name == "hparams", version
        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        assert data.session_end_info.status == status, (
            f"tensorboard {version}: session_end_pb no longer writes the status"
        )


def test_keras_tuner_still_has_what_the_toolkit_relies_on(monkeypatch):
    compat, version = load_compat("keras-tuner", KERAS_TUNER_COMPAT)
    from concurrent import futures

    import grpc
    import keras_tuner as kt
    from keras_tuner.src.engine import tuner

    for hook, parameters in (("_deepcopy_callbacks", ["self", "callbacks"]),
                             ("_configure_tensorboard_dir",
                              ["self", "callbacks", "trial", "execution"])):
        found = list(inspect.signature(getattr(tuner.Tuner, hook)).parameters)
        assert found == parameters, f"keras-tuner {version}: Tuner.{hook}{tuple(found)}"

    objective = kt.Objective("val_accuracy", "max")
    oracle = kt.oracles.RandomSearchOracle(objective=objective, max_trials=1)
    compat.queue_for_retry(oracle, "7")
    compat.queue_for_retry(oracle, "7")
    assert list(oracle._retry_queue) == ["7"], f"keras-tuner {version}: Oracle._retry_queue"
    hyperband = kt.oracles.HyperbandOracle(objective=objective, max_epochs=9, factor=3)
    assert compat.hyperband_brackets(hyperband) == 3, f"keras-tuner {version}"

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    try:
        servicer = compat.add_oracle_service(server, oracle)
        assert servicer.stop_triggered is False, f"keras-tuner {version}: stop_triggered"
        assert not compat.search_is_over(servicer, oracle)
    finally:
        server.stop(grace=None)

    for name in compat.ROLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert (compat.is_oracle_chief(), compat.is_oracle_worker()) == (False, False)
    for name in compat.ROLE_VARIABLES:  # registered, so monkeypatch restores them
        monkeypatch.setenv(name, "")
    compat.set_distributed_role("127.0.0.1", 8000, "chief")
    assert compat.oracle_address() == "127.0.0.1:8000"
    assert (compat.is_oracle_chief(), compat.is_oracle_worker()) == (True, False)
    compat.set_distributed_role("127.0.0.1", 8000, "worker3")
    assert (compat.is_oracle_chief(), compat.is_oracle_worker()) == (False, True)
