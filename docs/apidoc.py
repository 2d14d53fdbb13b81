"""Generate docs/api.md from the public modules' docstrings and signatures.

Run `python docs/apidoc.py` after changing a public API; tests/test_docs.py
fails when docs/api.md no longer matches the code, so the reference cannot
drift from what the code does.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

MODULES = [
    "blitz.errors",
    "blitz.protocol",
    "blitz.boards",
    "blitz.data.models",
    "blitz.data.database",
]

HEADER = """# Python API reference

Generated from the code by `python docs/apidoc.py`; do not edit by hand.
The names users' scripts rely on are fixed by `shared/spec/api.md`; this page
lists every public name of the modules below with its signature and docstring.
"""


def _doc(obj: object) -> str:
    text = inspect.getdoc(obj) or ""
    return text.strip()


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _own_public_members(cls: type) -> list[tuple[str, object]]:
    members = []
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            members.append((name, member))
    return members


def _render_class(name: str, cls: type) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    lines = [f"### class `{name}`" + (f" ({', '.join(bases)})" if bases else ""), ""]
    if _doc(cls):
        lines += [_doc(cls), ""]
    for member_name, member in _own_public_members(cls):
        if isinstance(member, property):
            lines.append(f"- `{member_name}` (property): {_doc(member).splitlines()[0] if _doc(member) else ''}")
            continue
        doc = _doc(member)
        summary = doc.split("\n\n")[0].replace("\n", " ") if doc else ""
        if member_name == "__init__" and not summary:
            lines.append(f"- `{name}{_signature(member).replace('(self, ', '(').replace('(self)', '()')}`")
            continue
        signature = _signature(member).replace("(self, ", "(").replace("(self)", "()").replace("(cls, ", "(")
        lines.append(f"- `{member_name}{signature}`" + (f": {summary}" if summary else ""))
    return lines + [""]


def render() -> str:
    """The whole reference page."""
    out = [HEADER]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        out += [f"## `{module_name}`", "", _doc(module), ""]
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in sorted(names):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                out += _render_class(name, obj)
            elif inspect.isfunction(obj):
                doc = _doc(obj)
                out += [f"### `{name}{_signature(obj)}`", "", doc, ""] if doc else [f"### `{name}{_signature(obj)}`", ""]
            elif not inspect.ismodule(obj) and not name.isupper():
                continue
            elif name.isupper():
                out += [f"- `{name}` = `{obj!r}`", ""]
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    target = Path(__file__).with_name("api.md")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
