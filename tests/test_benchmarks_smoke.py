"""`python -m benchmarks all --smoke` runs to the end and prints every figure (no timing is asserted)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import BENCHMARKS
from benchmarks.common import printed_figures

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


def _expected(postgres: bool) -> set[str]:
    """`benchmark.figure` of every figure the registered benchmarks promise to print."""
    names: set[str] = set()
    for name, module_name in BENCHMARKS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # registered but not written yet
                continue
            raise
        figures = list(getattr(module, "FIGURES", ()))
        if postgres:
            figures += list(getattr(module, "POSTGRES_FIGURES", ()))
        names |= {f"{name}.{figure}" for figure in figures}
    return names


def test_every_benchmark_runs_at_smoke_size_and_prints_its_figures(tmp_path: Path) -> None:
    postgres = bool(os.environ.get("BLITZ_TEST_POSTGRES_URL"))
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "all", "--smoke", "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=230,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    missing = _expected(postgres) - printed_figures(result.stdout)
    assert not missing, f"figures not printed: {sorted(missing)}\n{output[-4000:]}"


def test_an_unknown_benchmark_is_refused() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks", "nonsense"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown benchmark 'nonsense'" in result.stderr
