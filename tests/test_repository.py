"""The repository keeps its promises to a newcomer: README and CI agree."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _test_command_in_ci() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    (command,) = [line for line in lines if "pytest" in line and not line.lstrip().startswith("#")]
    return command.strip()


def test_readme_quick_start_runs_the_same_test_command_as_ci():
    readme = (ROOT / "README.md").read_text()
    assert _test_command_in_ci() in readme


def test_readme_commands_exist_in_the_cli():
    from blitz.cli.main import COMMANDS

    readme = (ROOT / "README.md").read_text()
    code = "\n".join(re.findall(r"```(?:sh|console)?\n(.*?)```", readme, flags=re.DOTALL))
    used = set(re.findall(r"(?:^|[\s/])blitz ([a-z][a-z-]*)", code, flags=re.MULTILINE))
    assert used, "README shows no blitz command"
    assert used <= set(COMMANDS), f"README names commands that do not exist: {sorted(used - set(COMMANDS))}"


def test_fixtures_ship_with_the_package():
    setup = (ROOT / "setup.py").read_text()
    assert '"blitz.fixtures": "fixtures"' in setup
    assert list((ROOT / "fixtures").glob("*.json")), "fixtures/ holds no JSON files"
