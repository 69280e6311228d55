"""Where a request's CPU goes over HTTP: cProfile inside the real uvicorn worker under load.

`api_profile.py` profiles the app in-process; this profiles the server process that
`bench_api.py` measures (the API's own uvicorn command: uvloop, httptools, proxy
headers, JSON logs to a file, metrics on) while `api_load.py` drives it from another
process, so the server's own per-request work (parsing, the protocol, the event
loop, the ASGI messages) is counted too. The profiler runs only while the load does
(SIGUSR1 starts it, SIGUSR2 stops it and writes the profile). Prints the same
breakdown as `api_profile.py` plus `server_and_loop`: the server's own code.
Needs the database `bench_api.py --keep-db` (or `--reuse-db`) leaves.

    python -m scripts.bench.api_http_profile [--scenario product_by_id] [--rate 300]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.bench import api_data
from scripts.bench.api_profile import breakdown
from scripts.bench.api_server import cpu_seconds, offered, running_api
from scripts.bench.common import API_DATABASE, emit, load_average, log, plain_url

DATABASE = API_DATABASE
#: The server's own code: uvicorn's protocol and its middleware, httptools, asyncio.
_SERVER_FILES = ("/uvicorn/", "/httptools/", os.path.dirname(asyncio.__file__) + os.sep)


def serve(argv: list[str], profile_path: str) -> None:
    """Run uvicorn with `argv`, profiling between SIGUSR1 and SIGUSR2 (CPU time)."""
    import uvicorn.main

    profile = cProfile.Profile(time.process_time)

    def start(*_: Any) -> None:
        profile.enable()

    def stop(*_: Any) -> None:
        profile.disable()
        profile.dump_stats(profile_path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    uvicorn.main.main(argv)


def _command(profile_path: Path) -> Any:
    from pricealert.supervised import service_command

    def command(port: int) -> list[str]:
        api = service_command("api", host="127.0.0.1", port=port)
        # [python, -m, uvicorn, <app>, <options>...]: the same options, under the profiler.
        return [
            sys.executable, "-m", "scripts.bench.api_http_profile", "--serve", str(profile_path),
            "--", *api[3:],
        ]  # fmt: skip

    return command


def measure(scenario: str, rate: float, duration: float, save: str | None = None) -> dict[str, Any]:
    from scripts.bench.bench_api import sample_watches, scenario_paths

    user_id = asyncio.run(api_data.bench_user(plain_url(DATABASE)))
    paths = scenario_paths(user_id, asyncio.run(sample_watches(user_id, 500)))[scenario]
    with tempfile.TemporaryDirectory() as scratch:
        profile_path = Path(scratch) / "api.prof"
        with running_api(DATABASE, Path(scratch), {}, _command(profile_path)) as api:
            offered(api.port, paths, 200, 2.0)  # warm: prepared statements, key cache
            before = cpu_seconds(api.pid)
            plain = offered(api.port, paths, rate, duration)
            cpu_ms = (cpu_seconds(api.pid) - before) * 1000 / max(1, plain["completed"])
            os.kill(api.pid, signal.SIGUSR1)
            profiled = offered(api.port, paths, rate, duration)
            os.kill(api.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not profile_path.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # the dump is written in one go; let it finish
        requests = max(1, profiled["completed"])
        result = breakdown_of(str(profile_path), requests, round(cpu_ms, 3))
        if save:
            shutil.copyfile(profile_path, save)
    return {
        "scenario": scenario,
        "offered_rps": rate,
        "requests": requests,
        "unprofiled_run": {k: plain[k] for k in ("achieved_rps", "p50_ms", "p99_ms", "errors")},
        **result,
        "load_average": load_average(),
    }


def breakdown_of(profile_path: str, requests: int, cpu_ms: float) -> dict[str, Any]:
    """`api_profile.breakdown` of a saved profile, with the server's share apart.

    The server's share is the own time of uvicorn's protocol code, httptools and asyncio
    (own time: a coroutine's inclusive time is not reliable under cProfile, each resume
    being a call); the in-process breakdown counted it as `framework_and_other`."""
    stats = pstats.Stats(profile_path, stream=io.StringIO())
    result = breakdown(profile_path, requests, cpu_ms)
    total: float = stats.total_tt  # type: ignore[attr-defined]
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    server = sum(
        tt
        for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in raw.items()
        if any(part in filename for part in _SERVER_FILES)
    )
    scale = cpu_ms / (total * 1000 / requests) if total else 0.0
    server_ms = server * 1000 / requests * scale
    server_share = 100 * server / total if total else 0.0
    ms, share = result["ms_per_request"], result["share_percent"]
    ms["framework_and_other"] = round(max(0.0, ms["framework_and_other"] - server_ms), 3)
    share["framework_and_other"] = round(max(0.0, share["framework_and_other"] - server_share), 1)
    ms["server_and_loop"] = round(server_ms, 3)
    share["server_and_loop"] = round(server_share, 1)
    return result


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        serve(sys.argv[sys.argv.index("--") + 1 :], sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="product_by_id")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--save", help="keep the profile (pstats) at this path")
    args = parser.parse_args()
    log(f"api: profiling the server at {args.rate:.0f} req/s ({args.scenario})")
    emit(
        {
            "benchmark": "api_http_profile",
            **measure(args.scenario, args.rate, args.duration, args.save),
        }
    )


if __name__ == "__main__":
    main()
