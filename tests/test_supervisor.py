"""`pricealert run`: says when it is ready, runs once per lock, dies with its children, and
stops (instead of restarting forever) when a child cannot start. Real processes throughout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pricealert_ops.supervisor import AlreadyRunning, RunLock
from tests.conftest import admin_execute, async_url, drop_database

SUPERVISOR_REDIS_DB = 9
READY = "scraper, evaluator, notifier running"
DEADLINE_SECONDS = 120.0

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def run_env(fresh_database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEALERT_")}
    env.update(
        {
            "PRICEALERT_ENVIRONMENT": "test",
            "PRICEALERT_DATABASE_URL": fresh_database_url,
            "PRICEALERT_REDIS_URL": redis_url,
            "PRICEALERT_API_PORT": str(_free_port()),
            "PRICEALERT_WEB_PORT": str(_free_port()),
            "PRICEALERT_METRICS_PORT_BASE": "0",
            "PRICEALERT_LOCAL_DIR": str(tmp_path / "local"),
            "PRICEALERT_DATABASE_POOL_SIZE": "3",
        }
    )
    return env


class Run:
    """`python -m pricealert run …` in a session of its own; stdout and stderr in files."""

    def __init__(self, env: dict[str, str], log_dir: Path, *args: str) -> None:
        self.stdout = log_dir / f"run-{time.monotonic_ns()}.out"
        self.stderr = self.stdout.with_suffix(".err")
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pricealert", "run", *(args or ("all",))],
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def said(self) -> str:
        return self.stderr.read_text(errors="replace")

    def logged(self) -> str:
        return self.stdout.read_text(errors="replace")

    def wait_said(self, text: str) -> None:
        """Wait for `text` on stderr or in the log (`supervisor.ready` carries the summary)."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while text not in self.said() + self.logged():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"no {text!r} (exit {self.process.poll()}):\n{self.said()}\n"
                    + self.stdout.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.2)

    def children(self) -> list[int]:
        return _children(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_a_second_run_says_another_is_running_and_exits(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    """With logs for a person (as on a terminal), ready is said in a plain sentence."""
    first = Run({**run_env, "PRICEALERT_LOG_FORMAT": "console"}, tmp_path)
    try:
        first.wait_said(READY)
        second = subprocess.run(
            [sys.executable, "-m", "pricealert", "run", "all"],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        first.stop()

    api = f"http://127.0.0.1:{run_env['PRICEALERT_API_PORT']}"
    web = f"http://127.0.0.1:{run_env['PRICEALERT_WEB_PORT']}"
    assert f"API ready on {api} — {READY} — web UI on {web} (Ctrl-C stops them)" in first.said()
    assert not first.logged().startswith("{")  # console lines, not JSON
    assert second.returncode == 2
    assert second.stderr.strip() == (
        f"error: already_running: another PriceAlert is running (pid {first.process.pid}); "
        "stop it first (Ctrl-C there)"
    )
    assert first.process.returncode == 0


def test_children_die_with_a_sigkilled_supervisor_and_then_a_new_run_starts(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    first = Run(run_env, tmp_path)
    first.wait_said(READY)
    # JSON logs (not a terminal): every line stays JSON; the ready event carries the summary.
    assert first.said() == ""
    ready = [json.loads(line) for line in first.logged().splitlines() if "supervisor.ready" in line]
    assert f"— {READY} — web UI on http://127.0.0.1:" in ready[0]["summary"]
    children = first.children()
    assert len(children) == 5

    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    deadline = time.monotonic() + 60
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)

    assert _alive(children) == [], "children outlived their SIGKILLed supervisor"
    again = Run(run_env, tmp_path)
    try:
        again.wait_said(READY)
    finally:
        again.stop()


def test_the_lock_is_held_while_any_process_of_the_run_lives(tmp_path: Path) -> None:
    """A supervisor that is gone but whose child still drains: named, and the lock is not
    taken from under it; once the child exits the lock is free (no stale lock file)."""
    path = tmp_path / "run.lock"
    holder = subprocess.run(
        [sys.executable, "-c",
         "import subprocess, sys\n"
         "from pathlib import Path\n"
         "from pricealert_ops.supervisor import RunLock\n"
         f"lock = RunLock(Path({str(path)!r})); lock.acquire()\n"
         "child = subprocess.Popen(['sleep', '60'], pass_fds=(lock.fd,), start_new_session=True,\n"
         "                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
         "print(child.pid)\n"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    child = int(holder.stdout)
    try:
        with pytest.raises(AlreadyRunning) as refused:
            RunLock(path).acquire()
        assert refused.value.pids == [child]
        assert "a supervisor that is gone" in str(refused.value)
    finally:
        os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive([child]) and time.monotonic() < deadline:
        time.sleep(0.05)

    lock = RunLock(path)
    lock.acquire()
    assert path.read_text().strip() == str(os.getpid())
    lock.release()


def test_a_taken_api_port_is_named_before_anything_starts(run_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pricealert", "run", "all", "--port", str(port)],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 2
    assert done.stderr.startswith(f"error: port_in_use: port {port} is taken (wanted for the API")
    assert "Traceback" not in done.stderr


def test_a_worker_whose_metrics_port_is_taken_exits_78_with_one_named_line(
    run_env: dict[str, str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "arq", "--custom-log-dict", "pricealert.logging.ARQ_LOG_CONFIG",
             "services.evaluator.worker.WorkerSettings"],
            env={**run_env, "PRICEALERT_METRICS_PORT": str(port), "PRICEALERT_LOG_FORMAT": "json"},
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip

    assert done.returncode == 78
    assert "Traceback" not in done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if "worker.cannot_start" in line]
    assert '"error": "metrics_port_in_use"' in line
    assert f"port {port}" in line


@pytest.fixture
def unmigrated_database_url() -> Iterator[str]:
    name = f"pricealert_t_unmigrated_{os.getpid()}"
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    yield async_url(name)
    drop_database(name)


def test_a_child_that_cannot_start_stops_the_run_instead_of_restarting_forever(
    run_env: dict[str, str], unmigrated_database_url: str, tmp_path: Path
) -> None:
    run = Run({**run_env, "PRICEALERT_DATABASE_URL": unmigrated_database_url}, tmp_path, "scraper")
    try:
        run.process.wait(DEADLINE_SECONDS)
    finally:
        run.stop()

    assert run.process.returncode == 78
    log = run.stdout.read_text()
    assert '"message": "process.cannot_start", ' in log
    assert log.count('"message": "process.started"') == 1  # never restarted
    assert '"error": "schema_outdated"' in log
    assert "Traceback" not in log + run.said()
