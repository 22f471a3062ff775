"""Project hygiene: one source of truth for dependencies, and CI running the README's commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

from tools import write_environment

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_is_generated_from_pyproject():
    assert (ROOT / "environment.yml").read_text() == write_environment.render(ROOT), (
        "environment.yml disagrees with pyproject.toml/constraints.txt: run python tools/write_environment.py"
    )
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_reqs = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~ \[]", r)[0] for r in project["dependencies"]}
    assert names <= {re.split(r"[<>=!~ \[]", r)[0] for r in pip_reqs}


def test_pins_satisfy_the_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges = {re.split(r"[<>=!~ \[]", r)[0]: r[len(re.split(r"[<>=!~ \[]", r)[0]):] for r in project["dependencies"]}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            assert version in SpecifierSet(ranges[name]), f"{line} is outside pyproject's range {ranges[name]}"
    python = (ROOT / ".python-version").read_text().strip()
    assert f"{python}.0" in SpecifierSet(project["requires-python"])


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    assert block, "README needs a fenced bash block with the commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def test_readme_has_three_commands_and_ci_runs_setup_and_tests_as_written():
    commands = _readme_commands()
    assert len(commands) == 3, commands
    setup, _book, test = commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup in ci and test in ci
    assert ci.index(setup) < ci.index(test)
