"""Keras Tuner search spaces over the three API styles.

One `keras_tuner.HyperModel` per style, each declaring a real space over the
builders of `toolkit.models`, and `AllStylesHyperModel`, whose `api` is itself
a hyperparameter so that one search compares the three styles:

- every style: learning rate (log-sampled), optimizer, dense units, dropout,
  batch normalization;
- Sequential and Subclassed: number of conv blocks, filters of each block
  (active only for the blocks that exist) and kernel size;
- Functional: filters and kernel sizes of the parallel branches, merge mode,
  residual block on/off, and the conv blocks after the merge;
- Subclassed: label smoothing and gradient clipping of its custom train step
  (`clipnorm` is active only when clipping is on).

Hyperparameters that only apply to some values of another live in
conditional scopes, so a trial records (and the HParams dashboard shows) only
the ones that shaped its model.

Every point of a space builds for the input shape the space is given: the
convolutions keep the image's size (`padding="same"`), so only the 2x2
poolings between blocks shrink it, and the most conv blocks is derived from
the image's size (3 on 28x28, 2 on 3x3); the functional space, which pools
twice, rejects images below 4x4 when it is made. Batch normalization's
moving statistics fit the trial's length: given `steps_per_epoch`, their
momentum is `models.batch_norm_momentum(steps_per_epoch)`, so the first
validation, after one epoch, sees converged statistics rather than Keras'
0.99 average of a few dozen steps (which scores a model that trains well
near chance).

Example:

    >>> import math

import keras_tuner as kt
    >>> hypermodel = make_hypermodel("functional", input_shape=(28, 28, 1))
    >>> hp = kt.HyperParameters()
    >>> model = hypermodel.build(hp)  # the default configuration
"""

import math

import keras_tuner as kt

from . import models
from .config import API_STYLES, SPACES
from .errors import ConfigError

MAX_CONV_BLOCKS = 3
MAX_POST_BLOCKS = 2
FILTERS = (16, 32, 64)
FUNCTIONAL_MIN_SIDE = 4
BRANCH_KERNELS = ("3,5", "3,7", "1,3,5")


class StyleHyperModel(kt.HyperModel):
    """The search space of one API style (`"sequential"`, `"functional"`, `"subclassed"`).

    Args:
        api: the API style whose builder the space drives.
        input_shape: shape of one image, (H, W, C). Defaults to `(28, 28, 1)`.
        num_classes: output classes. Defaults to `10`.
        steps_per_epoch: training steps of one epoch; batch normalization's
            momentum is fitted to it. Defaults to `None` (Keras' 0.99).

    Raises:
        ConfigError: `api` is not one of the three styles, or the image is
            too small for the space.
    """

    def __init__(self, api, input_shape=(28, 28, 1), num_classes=10, steps_per_epoch=None):
        if api not in API_STYLES:
            raise ConfigError(
                f"api must be one of {', '.join(API_STYLES)}, received: {api!r}"
            )
        super().__init__(name=f"{api}_space")
        self.api = api
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.batch_norm_momentum = (
            models.BATCH_NORM_MOMENTUM if steps_per_epoch is None
            else models.batch_norm_momentum(steps_per_epoch)
        )
        self.max_conv_blocks = max_conv_blocks(self.input_shape)
        if api in ("functional", "all"):
            _check_functional_fits(self.input_shape)

    def build(self, hp):
        api, kwargs = self.declare(hp)
        return models.build_model(
            api, self.input_shape, self.num_classes, padding="same",
            batch_norm_momentum=self.batch_norm_momentum, **kwargs,
        )

    def declare(self, hp):
        """Declares the space on `hp`; returns `(api, build_model kwargs)`."""
        kwargs = _common(hp)
        if self.api == "functional":
            kwargs.update(_branches(hp))
        else:
            kwargs.update(_conv_stack(hp, self.max_conv_blocks))
        if self.api == "subclassed":
            kwargs.update(_custom_step(hp))
        return self.api, kwargs


class AllStylesHyperModel(StyleHyperModel):
    """One space over the three API styles; `api` is a hyperparameter.

    The hyperparameters every style shares are unconditional; those of one
    style are active only when `api` selects it.

    Args:
        input_shape: shape of one image, (H, W, C). Defaults to `(28, 28, 1)`.
        num_classes: output classes. Defaults to `10`.
        steps_per_epoch: see `StyleHyperModel`. Defaults to `None`.
    """

    def __init__(self, input_shape=(28, 28, 1), num_classes=10, steps_per_epoch=None):
        super().__init__("functional", input_shape, num_classes, steps_per_epoch)
        self.name = "all_space"
        self.api = "all"

    def declare(self, hp):
        api = hp.Choice("api", list(API_STYLES))
        kwargs = _common(hp)
        with hp.conditional_scope("api", ["sequential", "subclassed"]):
            conv = _conv_stack(hp, self.max_conv_blocks)
        with hp.conditional_scope("api", ["functional"]):
            branches = _branches(hp)
        with hp.conditional_scope("api", ["subclassed"]):
            custom_step = _custom_step(hp)
        if api == "functional":
            kwargs.update(branches)
        else:
            kwargs.update(conv)
        if api == "subclassed":
            kwargs.update(custom_step)
        return api, kwargs


def make_hypermodel(space, input_shape=(28, 28, 1), num_classes=10, steps_per_epoch=None):
    """The HyperModel of `space`: an API style or `"all"`.

    Args:
        space: one of `SPACES`.
        input_shape: shape of one image, (H, W, C). Defaults to `(28, 28, 1)`.
        num_classes: output classes. Defaults to `10`.
        steps_per_epoch: training steps of one epoch, which batch
            normalization's momentum is fitted to. Defaults to `None`
            (Keras' 0.99).

    Raises:
        ConfigError: `space` is not one of `SPACES`, or the image is too
            small for it.
    """
    if space == "all":
        return AllStylesHyperModel(input_shape, num_classes, steps_per_epoch)
    if space not in API_STYLES:
        raise ConfigError(
            f"--space must be one of {', '.join(SPACES)}, received: {space!r}"
        )
    return StyleHyperModel(space, input_shape, num_classes, steps_per_epoch)


def max_conv_blocks(input_shape):
    """The most conv blocks of the space that fit `input_shape`.

    The blocks keep the size and a 2x2 pooling halves it between two
    blocks, so n blocks need an image of at least 2**(n-1) pixels a side.
    """
    side = min(input_shape[0], input_shape[1])
    if side < 1:
        raise ConfigError(f"input_shape must be at least 1x1, received: {input_shape!r}")
    return min(MAX_CONV_BLOCKS, 1 + int(math.log2(side)))


def _check_functional_fits(input_shape):
    if min(input_shape[0], input_shape[1]) < FUNCTIONAL_MIN_SIDE:
        raise ConfigError(
            f"the functional space pools twice and needs images of at least "
            f"{FUNCTIONAL_MIN_SIDE}x{FUNCTIONAL_MIN_SIDE}, received input_shape: {input_shape!r}"
        )


def _common(hp):
    return {
        "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3),
        "optimizer": hp.Choice("optimizer", list(models.OPTIMIZERS)),
        "dense_units": hp.Choice("dense_units", [32, 64, 128]),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
        "batch_norm": hp.Boolean("batch_norm", default=False),
    }


def _conv_stack(hp, most):
    blocks = hp.Int("conv_blocks", 1, most, default=min(2, most))
    kernel_size = hp.Choice("kernel_size", [3, 5])
    filters = _block_filters(hp, "conv_blocks", "filters", most, blocks)
    return {"conv_filters": filters, "kernel_size": kernel_size}


def _branches(hp):
    kernels = hp.Choice("branch_kernels", list(BRANCH_KERNELS))
    kwargs = {
        "branch_filters": hp.Choice("branch_filters", list(FILTERS)),
        "branch_kernels": tuple(int(k) for k in kernels.split(",")) if kernels else None,
        "merge": hp.Choice("merge", list(models.MERGE_MODES)),
        "residual": hp.Boolean("residual", default=True),
    }
    blocks = hp.Int("post_blocks", 1, MAX_POST_BLOCKS, default=1)
    kwargs["conv_filters"] = _block_filters(
        hp, "post_blocks", "post_filters", MAX_POST_BLOCKS, blocks
    )
    return kwargs


def _custom_step(hp):
    smoothing = hp.Float("label_smoothing", 0.0, 0.2, step=0.1, default=0.0)
    clip = hp.Boolean("gradient_clipping", default=False)
    with hp.conditional_scope("gradient_clipping", [True]):
        clipnorm = hp.Float("clipnorm", 0.1, 10.0, sampling="log", default=1.0)
    return {"label_smoothing": smoothing, "clipnorm": clipnorm if clip else None}


def _block_filters(hp, count_name, prefix, most, count):
    """Filters of blocks 1..`most`; block i is active when `count` >= i."""
    filters = []
    for i in range(1, most + 1):
        with hp.conditional_scope(count_name, list(range(i, most + 1))):
            value = hp.Choice(f"{prefix}_{i}", list(FILTERS))
        if count is not None and i <= count:
            filters.append(value)
    return tuple(filters)
