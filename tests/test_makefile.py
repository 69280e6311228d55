"""`make help` lists every target, aligned; every target in the Makefile says what it does."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*):(?!=)(.*)$")


def makefile_targets() -> dict[str, str]:
    """Every rule's target and the rest of its line (variables and special targets excluded)."""
    targets = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = TARGET.match(line)
        if match and not match.group(1).startswith("."):
            targets[match.group(1)] = match.group(2)
    return targets


def make_help() -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    done = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_every_target_has_a_help_line() -> None:
    targets = makefile_targets()

    assert "test-e2e" in targets
    missing = [name for name, rest in targets.items() if "## " not in rest]
    assert missing == [], f"targets without a '## what it does' comment: {missing}"


def test_make_help_lists_every_target_aligned() -> None:
    lines = make_help().splitlines()

    listed = [line.split()[0] for line in lines]
    assert sorted(listed) == sorted(makefile_targets())
    columns = {len(line) - len(line[2:].split(None, 1)[1]) for line in lines}
    assert len(columns) == 1, "descriptions do not start in one column"


def test_every_phony_target_exists() -> None:
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*?)(?<!\\)$", text, flags=re.MULTILINE | re.DOTALL)
    assert phony is not None
    names = phony.group(1).replace("\\\n", " ").split()

    assert set(names) <= set(makefile_targets())
