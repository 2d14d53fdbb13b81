"""Coverage-guided fuzzing with atheris (libFuzzer) of the parsers the hypothesis tests cover.

Run one target by hand for as long as you like:

    .venv/bin/python tests/reliability/test_fuzz_atheris.py lines -max_total_time=600

Targets: `lines` (parse_line, decode_lines, decode_chunk), `commands`
(parse_command) and `boards` (board definition files).  Each fails on any
exception but the one its parser documents.  In the suite, every target runs
for a bounded number of inputs in its own process; the test is skipped when
atheris is not installed (it is in the `dev` extras).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: Inputs per target in the suite (about 2 s each on a CI machine).
RUNS = {"lines": 4000, "commands": 4000, "boards": 1500}


def _lines_target() -> Callable[[bytes], None]:
    from blitz.boards import decode_chunk
    from blitz.boards.builtin import BUILTIN_BOARDS
    from blitz.errors import MessageError
    from blitz.protocol import Message, decode_lines, parse_line

    boards = {board.id: board() for board in BUILTIN_BOARDS}

    def one(data: bytes) -> None:
        lines: list[str | bytes] = []
        for number, piece in enumerate(data.split(b"\n")[:32]):
            lines.append(piece if number % 2 else piece.decode("utf-8", "replace"))
        verdicts = []
        for line in lines:
            try:
                verdicts.append(isinstance(parse_line(line), Message))
            except MessageError:
                verdicts.append(False)
        columns = decode_lines(lines)
        if sorted(columns.index.tolist()) != [i for i, ok in enumerate(verdicts) if ok]:
            raise AssertionError(f"decode_lines and parse_line disagree on {lines!r}")
        chunk = decode_chunk(lines, boards, {})
        if chunk.decoded_messages + len(chunk.errors) + sum(chunk.unknown.values()) != len(lines):
            raise AssertionError(f"decode_chunk lost count of {lines!r}")

    return one


def _commands_target() -> Callable[[bytes], None]:
    from blitz.server.commands import CommandSyntaxError, parse_command

    def one(data: bytes) -> None:
        for line in data.split(b"\n")[:16]:
            try:
                parse_command(line)
            except CommandSyntaxError as error:
                if "\n" in str(error):
                    raise AssertionError(f"a reason with a line feed: {error!r}") from None

    return one


def _boards_target() -> Callable[[bytes], None]:
    from blitz.boards.loader import load_board_file
    from blitz.errors import BoardDefinitionError

    path = Path(tempfile.mkdtemp(prefix="blitz-atheris-")) / "boards.toml"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            boards = load_board_file(path)
        except BoardDefinitionError:
            return
        for board in boards:
            line = f"{board.id:02x}a000000000" + "5" * (board.payload_bits // 4)
            board.decode(line)

    return one


TARGETS: dict[str, Callable[[], Callable[[bytes], None]]] = {
    "lines": _lines_target, "commands": _commands_target, "boards": _boards_target,
}

SEEDS = {
    "lines": [b"08a000002f19572076ac00000000\n0840\n\x0008a000002f19572076ac00000000\r\n"],
    "commands": [b"DOWNLOAD 1 0\nBOARD 08 0881\nAUTH s3cret\nLIVE ON\n"],
    "boards": [b'[[board]]\nid = 32\ndescription = "x"\n[[board.variable]]\nname = "v"\nbits = 12\nscale = 0.5\n'],
}


def main(argv: list[str]) -> None:
    import atheris

    target = argv[1]
    import numpy  # noqa: F401  - not instrumented: only Blitz's own code guides the fuzzer
    with atheris.instrument_imports(include=["blitz"]):
        import blitz.boards  # noqa: F401
        import blitz.protocol  # noqa: F401
        import blitz.server.commands  # noqa: F401
    atheris.Setup([argv[0], *argv[2:]], TARGETS[target]())
    atheris.Fuzz()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_finds_no_crash(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number, seed in enumerate(SEEDS[target]):
        (corpus / f"seed{number}").write_bytes(seed)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, __file__, target, f"-runs={RUNS[target]}", "-seed=1", "-max_len=512", "-len_control=0",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=100, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {RUNS[target]} runs" in result.stderr, result.stderr[-2000:]


if __name__ == "__main__":
    main(sys.argv)
