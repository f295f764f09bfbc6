"""What kind of number a user's value is, for the checks every entry point makes before any work.

A bool is never a number here (``True`` would pass as 1), and numpy's scalars count as Python's
do (a value read from an array). Each check keeps its own message; these only say what it holds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_whole_number(value: Any) -> bool:
    """True for an int or a numpy integer (not a bool, a float or text)."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def is_real_number(value: Any) -> bool:
    """True for an int, a float or a numpy integer or floating scalar (not a bool, text or None)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def is_positive_number(value: Any) -> bool:
    """True for a finite real number above 0."""
    return is_real_number(value) and math.isfinite(value) and value > 0
