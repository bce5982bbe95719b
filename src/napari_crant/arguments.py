"""Checking plain arguments of the public API (flags, counts, distances), naming the bad value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class InvalidArgumentError(ValueError, TypeError):
    """A parameter value of the wrong type or out of range (the message names the parameter).

    It is both a ``ValueError`` and a ``TypeError``, so code that catches either keeps working.
    """


def check_flag(value: Any, name: str) -> bool:
    """``value`` if it is a real boolean (``True``/``False``, numpy bools included).

    Raises
    ------
    InvalidArgumentError
        For anything else: the text ``"False"`` is truthy and would silently mean ``True``.
    """
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise InvalidArgumentError(f"{name} must be True or False, not {value!r} ({type(value).__name__})")


def check_flags(**flags: Any) -> None:
    """:func:`check_flag` on each keyword argument (``check_flags(clean=clean, ...)``)."""
    for name, value in flags.items():
        check_flag(value, name)


def _number(value: Any, name: str, what: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(f"{name} must be {what}, not {value!r} ({type(value).__name__})")
    number = float(value) if not isinstance(value, int | np.integer) else int(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidArgumentError(f"{name} must be {what}, not {value!r}")
    return number


def check_threshold(threshold: Any, min_size: Any) -> None:
    """Refuse a ``threshold`` that is not an integer >= 1 and a ``min_size`` that is not a finite number >= 0.

    Raises
    ------
    InvalidArgumentError
        Naming the parameter and the value (NaN, infinities, booleans and text included).
    """
    if isinstance(threshold, bool | np.bool_) or not isinstance(threshold, int | np.integer) or threshold < 1:
        raise InvalidArgumentError(f"threshold must be an integer >= 1, not {threshold!r}")
    if min_size is not None:
        what = "a finite number >= 0 or None"
        if _number(min_size, "min_size", what) < 0:
            raise InvalidArgumentError(f"min_size must be {what}, not {min_size!r}")


def check_distance(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite number >= 0.

    Raises
    ------
    InvalidArgumentError
        For NaN, infinities, negative numbers, booleans and non-numbers.
    """
    what = "a finite number of nm >= 0"
    number = _number(value, name, what)
    if number < 0:
        raise InvalidArgumentError(f"{name} must be {what}, not {value!r}")
    return float(number)
