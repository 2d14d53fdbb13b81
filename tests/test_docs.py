"""docs/ stays true: the API reference is regenerated from the code."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_api_reference_matches_the_code():
    spec = importlib.util.spec_from_file_location("apidoc", ROOT / "docs" / "apidoc.py")
    apidoc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(apidoc)
    current = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert current == apidoc.render(), "docs/api.md is stale: run `python docs/apidoc.py`"


def test_architecture_page_names_every_package():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in sorted(p.name for p in (ROOT / "blitz").iterdir() if (p / "__init__.py").exists()):
        assert f"blitz.{package}" in text, f"docs/architecture.md does not describe blitz.{package}"
