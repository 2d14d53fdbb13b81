"""Check the arguments of DatabaseClient calls, naming the bad argument and the expected form.

Bad input must fail before it reaches the database, with a message a user can act on.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from blitz.data.models import Base

__all__ = ["require_int", "require_model", "require_number"]


def require_int(name: str, value: object, minimum: int | None = None) -> int:
    """`value` as an int, or ValueError naming the argument (numpy integers count, bools do not)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def require_number(name: str, value: object) -> float:
    """`value` as a float, or ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def require_model(model: object) -> type[Base]:
    """`model` if it is a Blitz model class, or ValueError listing the valid ones."""
    if not (isinstance(model, type) and issubclass(model, Base) and model is not Base):
        names = ", ".join(sorted(m.class_.__name__ for m in Base.registry.mappers))
        raise ValueError(f"model: expected one of {names}, got {model!r}")
    return model
