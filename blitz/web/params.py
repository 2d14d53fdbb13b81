"""Validate query parameters, path parts and JSON fields; a bad one is a 400 naming it.

Every value the browser sends goes through one of these functions, so handlers
only ever see checked ints and names, and no browser text reaches SQL except
as a bound parameter.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from blitz.web.http import BadRequest, Call

__all__ = [
    "MAX_VARIABLES",
    "choice_param",
    "int_param",
    "int_value",
    "session_id_arg",
    "variable_params",
]

MAX_VARIABLES = 32
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")
_INT_TEXT = re.compile(r"^-?[0-9]{1,19}$")


def int_value(name: str, raw: Any, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """`raw` (text or JSON number) as an int within [minimum, maximum]."""
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _INT_TEXT.match(raw.strip()):
        value = int(raw.strip())
    else:
        value = None
    bounds = _describe_bounds(minimum, maximum)
    if value is None:
        raise BadRequest(f"{name}: expected an integer{bounds}, got {_show(raw)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise BadRequest(f"{name}: expected an integer{bounds}, got {value}")
    return value


def _describe_bounds(minimum: Optional[int], maximum: Optional[int]) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _single(call: Call, name: str) -> Optional[str]:
    values = call.query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"{name}: expected one value, got {len(values)}")
    return values[0]


def int_param(
    call: Call,
    name: str,
    default: Optional[int] = None,
    minimum: Optional[int] = None,
    maximum: Optional[int] = None,
) -> Optional[int]:
    """Query parameter `name` as an int, `default` when absent."""
    raw = _single(call, name)
    if raw is None:
        return default
    return int_value(name, raw, minimum, maximum)


def choice_param(call: Call, name: str, choices: Sequence[str], default: str) -> str:
    """Query parameter `name`, one of `choices`."""
    raw = _single(call, name)
    if raw is None:
        return default
    if raw not in choices:
        raise BadRequest(f"{name}: expected one of {', '.join(choices)}, got {_show(raw)}")
    return raw


def variable_name(name: str, raw: Any) -> str:
    """A variable name: letters, digits, `_`, `.` and `-`, up to 255 characters."""
    if not isinstance(raw, str) or not _VARIABLE_NAME.match(raw):
        raise BadRequest(
            f"{name}: expected a variable name (letters, digits, _ . -), got {_show(raw)}"
        )
    return raw


def variable_params(call: Call, name: str = "variable", required: bool = True) -> list[str]:
    """Every `name` parameter (repeatable, or comma separated) as checked variable names."""
    names: list[str] = []
    for raw in call.query.get(name, []):
        for part in raw.split(","):
            checked = variable_name(name, part.strip())
            if checked not in names:
                names.append(checked)
    if required and not names:
        raise BadRequest(f"{name}: expected at least one variable name")
    if len(names) > MAX_VARIABLES:
        raise BadRequest(f"{name}: expected at most {MAX_VARIABLES} variables, got {len(names)}")
    return names


def session_id_arg(call: Call, name: str = "session") -> int:
    """The session number from the path (the logger's number, 0 to 2**31-1)."""
    return int_value("session id", call.path_args[name], 0, 2**31 - 1)
