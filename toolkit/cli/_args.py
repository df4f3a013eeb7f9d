"""Argument types shared by the commands: messages say what was received."""

import argparse
import functools

from ..config import MAX_SEED


def positive_int(text, maximum=None):
    """An integer >= 1, and <= `maximum` when one is given."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, received: {text!r}"
        )
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(
            f"must be at most {maximum}, received: {text!r}"
        )
    return value


def positive_int_up_to(maximum):
    """The argument type of a positive integer that may not exceed `maximum`."""
    return functools.partial(positive_int, maximum=maximum)


def seed(text):
    """A seed NumPy and Keras accept: an integer from 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to {MAX_SEED}, received: {text!r}"
        )
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a finite number > 0, received: {text!r}"
        )
    return value
