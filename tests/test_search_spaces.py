"""The search spaces: the hyperparameters they declare, and that samples build."""

import keras
import keras_tuner as kt
import pytest

from keras_tb_toolkit.toolkit.errors import ConfigError
from keras_tb_toolkit.toolkit.search_spaces import SPACES, make_hypermodel

COMMON = {"learning_rate", "optimizer", "dense_units", "dropout", "batch_norm"}
CONV = {"conv_blocks", "kernel_size", "filters_1", "filters_2", "filters_3"}
BRANCHES = {"branch_filters", "branch_kernels", "merge", "residual", "post_blocks",
            "post_filters_1", "post_filters_2"}
CUSTOM_STEP = {"label_smoothing", "gradient_clipping", "clipnorm"}
EXPECTED = {
    "sequential": COMMON | CONV,
    "functional": COMMON | BRANCHES,
    "subclassed": COMMON | CONV | CUSTOM_STEP,
    "all": {"api"} | COMMON | CONV | BRANCHES | CUSTOM_STEP,
}


def declared(space):
    hp = kt.HyperParameters()
    make_hypermodel(space).build(hp)
    return hp


@pytest.mark.parametrize("space", SPACES)
def test_space_declares_its_hyperparameters(space):
    assert {p.name for p in declared(space).space} == EXPECTED[space]


def test_learning_rate_is_log_sampled():
    (learning_rate,) = [p for p in declared("sequential").space if p.name == "learning_rate"]
    assert learning_rate.sampling == "log"
    assert (learning_rate.min_value, learning_rate.max_value) == (1e-4, 1e-2)


def sample(space_hp, seed):
    """Random active values, honoring the conditional scopes (as an oracle does)."""
    hp = kt.HyperParameters()
    for i, parameter in enumerate(space_hp.space):
        hp.merge([parameter])
        if hp.is_active(parameter):
            hp.values[parameter.name] = parameter.random_sample(seed * 100 + i)
    return hp


def cannot_fit(values):
    """Conv stacks of 3 blocks with kernel 5 shrink 28x28 below 1x1."""
    return values.get("conv_blocks") == 3 and values.get("kernel_size") == 5


@pytest.mark.parametrize("space", SPACES)
def test_sampled_configurations_build_or_fail_clearly(space):
    space_hp = declared(space)
    built = 0
    for seed in range(6):
        hp = sample(space_hp, seed)
        hypermodel = make_hypermodel(space)
        if cannot_fit(hp.values):
            with pytest.raises(ConfigError, match="shrink a 28x28 image below 1x1"):
                hypermodel.build(hp)
            continue
        model = hypermodel.build(hp)
        assert isinstance(model, keras.Model) and model.optimizer is not None
        assert model.count_params() > 0
        built += 1
    assert built >= 3


def test_conditional_hyperparameters_are_inactive_when_unused():
    space_hp = declared("all")
    hp = space_hp.copy()
    hp.values = {"api": "functional"}
    hp.ensure_active_values()
    make_hypermodel("all").build(hp)
    assert not CONV & set(hp.values) and not CUSTOM_STEP & set(hp.values)
    assert BRANCHES - {"post_filters_2"} <= set(hp.values)

    hp = space_hp.copy()
    hp.values = {"api": "subclassed", "conv_blocks": 1, "gradient_clipping": False}
    hp.ensure_active_values()
    model = make_hypermodel("all").build(hp)
    assert "clipnorm" not in hp.values and "filters_2" not in hp.values
    assert model.clipnorm is None and len(model.conv_filters) == 1


def test_subclassed_space_drives_the_custom_train_step():
    hp = declared("subclassed").copy()
    hp.values.update(label_smoothing=0.1, gradient_clipping=True, clipnorm=2.0)
    model = make_hypermodel("subclassed").build(hp)
    assert (model.label_smoothing, model.clipnorm) == (0.1, 2.0)


def test_functional_space_drives_branches_merge_and_residual():
    hp = declared("functional").copy()
    hp.values.update(branch_kernels="1,3,5", merge="add", residual=False)
    model = make_hypermodel("functional").build(hp)
    names = {layer.name for layer in model.layers}
    assert {"branch_1x1", "branch_3x3", "branch_5x5", "merge"} <= names
    assert "residual_add" not in names


def test_unknown_space_is_rejected():
    with pytest.raises(ConfigError, match="--space must be one of sequential, functional, "
                                          "subclassed, all, received: 'mlp'"):
        make_hypermodel("mlp")
