"""`python -m benchmarks NAME|all [options]`: run registered benchmarks and print their figures.

    python -m benchmarks all                      # every benchmark, default sizes
    python -m benchmarks all --smoke              # tiny sizes: what CI runs
    python -m benchmarks download --messages 1000000 --repeat 3
    python -m benchmarks --list

A benchmark is a module named in `BENCHMARKS`, imported only when it runs.  It defines

- `FIGURES`: the names of the figures it prints (the smoke test checks each one);
- `run(options, record)`: measure, calling `record.add(name, value, unit, target, note)`
  for each figure (`options` holds the shared options of `common.base_parser`
  plus its own, and `options.workdir`, a folder for this run's files);
- optionally `add_arguments(parser)` for options of its own;
- a docstring whose first line `--list` shows.

A module whose `run(options)` takes only the options and returns a dict of
figures by name is accepted too: each number in the dict is printed as a figure.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Sequence

from benchmarks.common import Recorder, base_parser, machine

#: benchmark name -> module.  Add one line per benchmark.
BENCHMARKS: dict[str, str] = {
    "download": "benchmarks.download",
    "storage": "benchmarks.storage",
    "browse": "benchmarks.browse",
    "web": "benchmarks.web",
    "ingest": "benchmarks.ingest",
    "live": "benchmarks.live",
}


def load(name: str) -> ModuleType:
    """The benchmark module registered as `name`."""
    return importlib.import_module(BENCHMARKS[name])


def _summary(module: ModuleType) -> str:
    doc = (module.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def _list() -> int:
    for name, module_name in BENCHMARKS.items():
        try:
            text = _summary(load(name))
        except ImportError as exc:
            text = f"(not available: {exc})"
        print(f"{name:10} {module_name:24} {text}")
    return 0


def _options(name: str, module: ModuleType, argv: Sequence[str], strict: bool) -> argparse.Namespace:
    parser = base_parser(f"python -m benchmarks {name}", _summary(module))
    add_arguments = getattr(module, "add_arguments", None)
    if add_arguments is not None:
        add_arguments(parser)
    if strict:
        return parser.parse_args(list(argv))
    options, _unknown = parser.parse_known_args(list(argv))  # `all`: options of other benchmarks
    return options


def _call(module: ModuleType, options: argparse.Namespace, record: Recorder) -> None:
    """`run(options, record)`, or `run(options)` returning a dict whose numbers become figures."""
    if len(inspect.signature(module.run).parameters) >= 2:
        module.run(options, record)
        return
    result = module.run(options)
    for key, value in (result or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            record.add(str(key), value, "")


def run_one(name: str, module: ModuleType, options: argparse.Namespace) -> Recorder:
    """Run one benchmark in its own work folder and return what it recorded."""
    record = Recorder(name)
    began = time.perf_counter()
    print(f"== {name}: {_summary(module)}", flush=True)
    if options.workdir is not None:
        folder = Path(options.workdir) / name
        folder.mkdir(parents=True, exist_ok=True)
        _call(module, argparse.Namespace(**{**vars(options), "workdir": folder}), record)
    else:
        with tempfile.TemporaryDirectory(prefix=f"blitz-bench-{name}-") as tmp:
            _call(module, argparse.Namespace(**{**vars(options), "workdir": Path(tmp)}), record)
    print(f"== {name}: done in {time.perf_counter() - began:.1f} s", flush=True)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks named on the command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks: " + ", ".join(BENCHMARKS) + "; `python -m benchmarks NAME --help` for options")
        return 0
    if args[0] == "--list":
        return _list()
    name, rest = args[0], args[1:]
    if name != "all" and name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; expected one of: all, {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}", flush=True)
    names = list(BENCHMARKS) if name == "all" else [name]
    failed: list[str] = []
    for current in names:
        try:
            module = load(current)
        except ModuleNotFoundError as exc:
            if name == "all" and exc.name == BENCHMARKS[current]:
                print(f"== {current}: not available yet ({BENCHMARKS[current]} is missing)", flush=True)
                continue
            raise
        options = _options(current, module, rest, strict=name != "all")
        try:
            run_one(current, module, options)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            print(f"== {current}: FAILED", flush=True)
            failed.append(current)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
