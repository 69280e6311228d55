"""The runtime library holds only the runtime; the `pricealert` command imports lazily.

- Every module of the runtime library and of the services imports with
  `pricealert_ops` refused (it is not in the runtime image), and none names it in an
  import statement.
- `pricealert --help` imports no database driver, AWS SDK or numeric library: what it
  imports is checked, not how long it takes (`make bench-cli` prints the time).
- Where only the runtime is installed, an operator command is a named error saying
  which distribution provides it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pricealert.cli
from pricealert.cli import OPS_COMMANDS, available_commands, build_parser

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIRS = (ROOT / "libs" / "pricealert", ROOT / "services")
#: What building the top-level help must not import (each costs 0.1-1 s).
HEAVY = ("sqlalchemy", "asyncpg", "boto3", "botocore", "numpy", "matplotlib", "aiohttp",
         "fastapi", "pydantic", "httpx", "redis", "arq", "pricealert_ops.chaos")  # fmt: skip

_REFUSE_OPS = """
import importlib.abc, sys
class RefuseOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pricealert_ops" or name.startswith("pricealert_ops."):
            raise ImportError(f"{name} is tooling: the runtime must not import it")
        return None
sys.meta_path.insert(0, RefuseOps())
try:
    import pricealert_ops.cli
except ImportError:
    pass
else:
    raise SystemExit("the hook did not refuse pricealert_ops")
"""


def _python(code: str, *, env: dict[str, str] | None = None, isolated: bool = False) -> str:
    argv = [sys.executable, *(["-I", "-S"] if isolated else []), "-c", code]
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _modules_under(directory: Path) -> list[str]:
    names = []
    for path in sorted(directory.rglob("*.py")):
        relative = path.relative_to(directory.parent).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if "migrations" in parts or parts[-1] == "__main__":
            continue  # alembic runs env.py and revisions by path; a __main__ runs when imported
        names.append(".".join(parts))
    return names


def test_no_runtime_module_imports_the_tooling() -> None:
    offenders = []
    for directory in RUNTIME_DIRS:
        for path in directory.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                if any(n == "pricealert_ops" or n.startswith("pricealert_ops.") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_nothing_in_the_runtime_drops_a_database() -> None:
    """The scratch-database helpers of drills, chaos and tests are tooling only."""
    dropping = [
        str(path.relative_to(ROOT))
        for directory in RUNTIME_DIRS
        for path in directory.rglob("*.py")
        if "DROP DATABASE" in path.read_text(encoding="utf-8").upper()
    ]
    assert dropping == []


def test_every_runtime_and_service_module_imports_without_the_tooling() -> None:
    modules = [m for d in RUNTIME_DIRS for m in _modules_under(d)]
    assert "services.scraper.worker" in modules
    assert "pricealert.worker" in modules
    out = _python(
        _REFUSE_OPS
        + "import importlib\n"
        + f"for name in {modules!r}:\n"
        + "    importlib.import_module(name)\n"
        + "print(sorted(m for m in sys.modules if m.startswith('pricealert_ops')))\n",
        env={**os.environ, "PRICEALERT_ENVIRONMENT": "test"},
    )
    assert out.strip() == "[]"


def test_the_top_level_help_imports_no_heavy_library() -> None:
    out = _python(
        "import sys\n"
        "from pricealert.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert "usage: pricealert" in out
    assert "backup" in out  # the tables, not the modules, list them
    assert "extract" in out
    assert out.strip().endswith("loaded: []")


def test_a_command_imports_its_own_module_only() -> None:
    out = _python(
        "import sys\n"
        "from pricealert.cli import main\n"
        "try:\n"
        "    main(['incident', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('loaded:', sorted(m for m in sys.modules if m.startswith('pricealert_ops.cli')))\n"
    )
    assert "open" in out  # incident's own subcommands
    assert out.strip().endswith("loaded: ['pricealert_ops.cli', 'pricealert_ops.cli.incident']")


def test_the_runtime_names_exactly_the_tooling_commands() -> None:
    from pricealert_ops.cli import COMMANDS

    assert set(COMMANDS) == OPS_COMMANDS


@pytest.mark.parametrize("name", sorted(available_commands()))
def test_each_listed_command_is_registered_by_its_module(name: str) -> None:
    parser = build_parser(available_commands(), name)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args([name, "--help"])
    assert exited.value.code == 0


def test_without_the_tooling_installed_an_operator_command_names_its_distribution() -> None:
    # -I -S: no site-packages, so no installed distribution and no entry point: the
    # runtime library alone, as in the runtime image (the CLI's help needs only stdlib).
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT / 'libs')!r}, {str(ROOT)!r}]\n"
        "from pricealert.cli import main\n"
        "print('exit', main(['backup', 'create']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "exit 2"
    assert done.stderr.startswith("error: command_not_installed: `pricealert backup`")
    assert "pricealert-ops" in done.stderr


def test_an_unknown_command_is_argparse_s_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        pricealert.cli.main(["frobnicate"])
    assert exited.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
