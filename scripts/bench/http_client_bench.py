"""CPU per GET, side by side: the guarded client, bare aiohttp and httpx, against nginx.

nginx (Debian's `nginx-light`; its own processes, so its CPU is not counted)
serves one ~212 KB product page on 16 loopback "domains" (127.0.0.1-16) over
keep-alive. Each client gets `--requests` GETs (after a warm-up) at concurrency
1 and 50, at most 4 connections per domain where the client has such a limit
(the scraper's setting); `time.process_time()` over the GETs gives the client's
CPU per GET, event loop included. Rounds interleave the clients, so a busy
moment on this shared machine falls on all of them alike; medians are printed.

    PYTHONPATH=. python -m scripts.bench.http_client_bench [--requests 2000] [--rounds 3]
        [--clients guarded,aiohttp,httpx] [--concurrency 1,50] [--loop asyncio|uvloop]
        [--baseline REV]

`--baseline REV` adds the `pricealert.http` of git revision REV (e.g. `381cb7a`, the
transport of our own that aiohttp replaced) as client `baseline`, in the same process: a
copy of that package under another name, imports rewritten. Rounds then alternate the
clients' order, and the JSON gets `paired`: per concurrency, the per-round ratio of the
guarded client's CPU to the baseline's (median, a bootstrap 95 % interval, rounds where
it was not worse). Paired rounds minutes apart are what this shared machine can compare:
its speed moves more between runs than the clients differ.

Without nginx on the PATH it falls back to the Python bench shop
(`scrape_shop.py`) and says so in `server`. Prints one JSON object:
`{client: {"c1": {...}, "c50": {...}}}` with `cpu_ms_per_get` (user and system apart in
`user_ms_per_get`, `sys_ms_per_get`), `minor_faults_per_get`,
`gets_per_s` (wall) and `body_kb`, and the load average before and after. The process
sets its memory management as every service does once started (`pricealert.allocator`:
the clients' modules imported, the heap frozen, the collector's first threshold and glibc's
allocator thresholds set; `PRICEALERT_GC_GEN0_THRESHOLD=0` and
`PRICEALERT_MALLOC_MMAP_THRESHOLD_BYTES=0` measure Python's and glibc's own), said in
`allocator` and `collector`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import io
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from pricealert.allocator import tune_for
from pricealert.settings import PriceAlertSettings
from scripts.bench.common import emit, load_average, log, machine_info, median_of

ORIGINS = 16
PAGE_KB = 212
WARMUP = 200
PER_HOST = 4

Get = Callable[[str], Awaitable[bytes]]
#: Debian installs nginx in /usr/sbin, which a user's PATH may lack.
_SEARCH_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin"


# -- the server -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type "text/html; charset=utf-8";
    server {{
{listen}
        root {dir}/www;
        location /p/ {{ try_files /page.html =404; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(page: bytes) -> Iterator[list[str]]:
    """nginx serving `page` at /p/<anything> on 127.0.0.1-16; yields the origins."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        raise FileNotFoundError("nginx")
    port = _free_port()
    hosts = [f"127.0.0.{n}" for n in range(1, ORIGINS + 1)]
    with tempfile.TemporaryDirectory(prefix="pricealert-bench-nginx-") as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        (root / "www" / "page.html").write_bytes(page)
        config = _NGINX_CONF.format(
            dir=root,
            user="user root;" if os.geteuid() == 0 else "",
            listen="\n".join(f"        listen {host}:{port};" for host in hosts),
        )
        (root / "nginx.conf").write_text(config)
        process = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
            [binary, "-p", root, "-c", root / "nginx.conf", "-e", root / "error.log"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            _wait_listening(hosts, port, process)
            yield [f"http://{host}:{port}" for host in hosts]
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_listening(hosts: list[str], port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    for host in hosts:
        while True:
            if process.poll() is not None:
                said = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"nginx exited: {said}")
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start listening")
            time.sleep(0.05)


@contextlib.contextmanager
def server() -> Iterator[tuple[str, list[str]]]:
    """("nginx", origins), or the Python bench shop where nginx is not installed."""
    from scripts.bench.bench_extract import build_page

    if shutil.which("nginx", path=_SEARCH_PATH) is not None:
        with nginx(build_page("jp_yodobashi_like.html", PAGE_KB)) as origins:
            yield "nginx", origins
        return
    from scripts.bench.scrape_setup import shop_process

    log("nginx not found (apt-get install nginx-light): using the Python bench shop")
    with shop_process(ORIGINS) as shop:
        yield "python bench shop", shop.origins


# -- the clients ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def guarded(origins: list[str]) -> AsyncIterator[Get]:
    from pricealert.http import GuardedClient

    async with GuardedClient(
        allowed_hosts=[o.split("://", 1)[1] for o in origins], max_connections_per_host=PER_HOST
    ) as client:

        async def get(url: str) -> bytes:
            result = await client.get(url)
            assert result.status == 200, result.status
            return result.body

        yield get


@contextlib.asynccontextmanager
async def bare_aiohttp(origins: list[str]) -> AsyncIterator[Get]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> bytes:
            async with session.get(url) as response:
                assert response.status == 200, response.status
                return await response.read()

        yield get


@contextlib.asynccontextmanager
async def bare_httpx(origins: list[str]) -> AsyncIterator[Get]:
    import httpx

    limits = httpx.Limits(max_connections=ORIGINS * PER_HOST, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get(url: str) -> bytes:
            response = await client.get(url)
            assert response.status_code == 200, response.status_code
            return response.content

        yield get


CLIENTS: dict[str, Callable[[list[str]], contextlib.AbstractAsyncContextManager[Get]]] = {
    "guarded": guarded,
    "aiohttp": bare_aiohttp,
    "httpx": bare_httpx,
}


# -- the measurement ------------------------------------------------------------------


async def measure(
    client: str, origins: list[str], requests: int, concurrency: int
) -> dict[str, float]:
    """One round for one client: a fresh client, a warm-up, then `requests` timed GETs."""
    urls = [f"{origins[i % len(origins)]}/p/{i}" for i in range(requests)]
    gate = asyncio.Semaphore(concurrency)
    body_bytes = 0

    async with CLIENTS[client](origins) as get:

        async def one(url: str) -> None:
            nonlocal body_bytes
            async with gate:
                body = await get(url)
            body_bytes += len(body)

        await asyncio.gather(*(one(u) for u in urls[:WARMUP]))
        body_bytes = 0
        before = resource.getrusage(resource.RUSAGE_SELF)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_SELF)
    faults = after.ru_minflt - before.ru_minflt
    return {
        "cpu_ms_per_get": round(cpu * 1000 / requests, 4),
        # the client's own Python and the kernel's socket work, apart
        "user_ms_per_get": round((after.ru_utime - before.ru_utime) * 1000 / requests, 4),
        "sys_ms_per_get": round((after.ru_stime - before.ru_stime) * 1000 / requests, 4),
        "minor_faults_per_get": round(faults / requests, 2),
        "gets_per_s": round(requests / wall, 1),
        "body_kb": round(body_bytes / requests / 1024, 1),
    }


@contextlib.contextmanager
def baseline_package(revision: str) -> Iterator[str]:
    """`pricealert.http` as it was at git `revision`, importable as the module it yields."""
    name = "_baseline_http"
    with tempfile.TemporaryDirectory(prefix="pricealert-bench-baseline-") as tmp:
        done = subprocess.run(  # noqa: S603 - git with arguments of our own
            ["git", "archive", revision, "libs/pricealert/http"],  # noqa: S607
            capture_output=True, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()
            raise ValueError(f"no pricealert.http at git revision {revision!r}: {said}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        package = Path(tmp) / name
        (Path(tmp) / "libs/pricealert/http").rename(package)
        for source in package.glob("*.py"):
            text = source.read_text()
            source.write_text(text.replace("pricealert.http.", f"{name}.").replace(
                "from pricealert.http import", f"from {name} import"
            ))  # fmt: skip
        sys.path.insert(0, tmp)
        try:
            yield name
        finally:
            sys.path.remove(tmp)


def baseline_client(
    module: str,
) -> Callable[[list[str]], contextlib.AbstractAsyncContextManager[Get]]:
    @contextlib.asynccontextmanager
    async def baseline(origins: list[str]) -> AsyncIterator[Get]:
        client_class = importlib.import_module(module).GuardedClient
        async with client_class(
            allowed_hosts=[o.split("://", 1)[1] for o in origins],
            max_connections_per_host=PER_HOST,
        ) as client:

            async def get(url: str) -> bytes:
                result = await client.get(url)
                assert result.status == 200, result.status
                body: bytes = result.body
                return body

            yield get

    return baseline


def paired(ours: list[float], theirs: list[float]) -> dict[str, Any]:
    """Per-round ratios ours/theirs: median, a bootstrap 95 % interval, rounds not worse."""
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    draw = random.Random(0)  # resampling, not secrets
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(2000))
    return {
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_95": [round(medians[49], 3), round(medians[1949], 3)],
        "rounds_not_worse": f"{sum(r <= 1 for r in ratios)}/{len(ratios)}",
    }


def runner(loop: str) -> Callable[[Any], dict[str, float]]:
    """How to run a round on `loop` ("asyncio" or "uvloop")."""
    if loop == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--concurrency", default="1,50")
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    parser.add_argument("--baseline", metavar="REV", help="also pricealert.http as of REV")
    args = parser.parse_args()
    clients = args.clients.split(",")
    levels = [int(c) for c in args.concurrency.split(",")]
    run = runner(args.loop)
    rounds: dict[tuple[str, int], list[dict[str, float]]] = {}
    load_before = load_average()
    # as the scraper's process is once started: what it imported frozen, thresholds set
    for module in ("aiohttp", "httpx", "pricealert.http"):
        importlib.import_module(module)
    allocator_fixed = tune_for(PriceAlertSettings())
    with contextlib.ExitStack() as stack:
        if args.baseline:
            try:
                module = stack.enter_context(baseline_package(args.baseline))
            except ValueError as exc:
                parser.error(str(exc))
            CLIENTS["baseline"] = baseline_client(module)
            clients.append("baseline")
        served_by, origins = stack.enter_context(server())
        for n in range(args.rounds):
            for concurrency in levels:
                # alternate the order: whoever runs first in a round is not always the same
                for client in clients if n % 2 == 0 else clients[::-1]:
                    figures = run(measure(client, origins, args.requests, concurrency))
                    rounds.setdefault((client, concurrency), []).append(figures)
                    log(f"round {n + 1} c={concurrency} {client}: {figures}")
    results: dict[str, Any] = {}
    for (client, concurrency), measured in rounds.items():
        results.setdefault(client, {})[f"c{concurrency}"] = median_of(measured)
    if args.baseline and "guarded" in clients:
        results["paired"] = {
            "guarded_over_baseline": {
                f"c{c}": paired(
                    [r["cpu_ms_per_get"] for r in rounds[("guarded", c)]],
                    [r["cpu_ms_per_get"] for r in rounds[("baseline", c)]],
                )
                for c in levels
            },
            "baseline": args.baseline,
        }
    emit({
        "benchmark": "http_client",
        "server": served_by,
        "loop": args.loop,
        "allocator": "thresholds fixed" if allocator_fixed else "glibc's own",
        "collector": {"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()},
        "requests": args.requests,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "machine": machine_info(),
        **results,
    })  # fmt: skip


if __name__ == "__main__":
    main()
