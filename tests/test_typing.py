"""The pure and storage layers stay fully typed (style.md: mypy --strict on them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRICT = ["blitz/errors.py", "blitz/protocol", "blitz/boards", "blitz/data", "blitz/simulator"]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_mypy_strict_is_clean(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), *STRICT],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]
