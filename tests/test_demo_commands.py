"""`pricealert demo shop|receiver` as the walk-through uses them, and the CLI's first-run hints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from pricealert_ops.devtools.demo_shop import parse_change


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Command:
    """A long-running `pricealert` command; its output read line by line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pricealert", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []

    def read_until(self, text: str, timeout: float = 60) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"no {text!r} in:\n{''.join(self.lines)}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture
def shop() -> Iterator[tuple[Command, int]]:
    port = _free_port()
    command = Command("demo", "shop", "--port", str(port))
    yield command, port
    command.stop()


def test_the_demo_shop_prints_its_urls_and_a_post_moves_a_price(
    shop: tuple[Command, int],
) -> None:
    command, port = shop
    lamp = f"http://127.0.0.1:{port}/p/lamp"
    command.read_until("Move a price:")
    printed = "".join(command.lines)
    assert lamp in printed
    assert f"http://127.0.0.2:{port}/p/kettle" in printed

    moved = httpx.post(lamp, data={"price": "84.90"})
    page = httpx.get(lamp).text

    assert moved.status_code == 200
    assert '"price":"84.90"' in page
    assert "moved  Walnut desk lamp: now $84.90, in stock" in command.read_until("moved")
    refused = httpx.post(lamp, data={"price": "cheap"})
    assert refused.status_code == 400
    assert "is not a number" in refused.text
    assert command.stop() == 0


def test_a_shop_change_must_say_what_changes() -> None:
    assert parse_change(b"in_stock=false") == (None, False)
    with pytest.raises(ValueError, match="positive"):
        parse_change(b"price=-1")
    with pytest.raises(ValueError, match="say price="):
        parse_change(b"colour=red")


def test_a_taken_port_is_a_named_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pricealert", "demo", "shop", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 2
    assert done.stderr.startswith("error: port_in_use: the demo shop cannot listen on port")
    assert "Traceback" not in done.stderr


def _signed(secret: str, body: bytes, *, message_id: str = "msg_1") -> dict[str, str]:
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_the_receiver_verifies_signatures_and_refuses_bad_ones() -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    port = _free_port()
    receiver = Command("demo", "receiver", "--port", str(port), "--secret", secret)
    try:
        receiver.read_until("Webhook receiver on")
        body = json.dumps(
            {
                "type": "price.alert",
                "data": {
                    "alert": {"kind": "below"},
                    "product": {"title": "Walnut desk lamp", "url": "http://shop/p/lamp"},
                    "price": {
                        "old": {"amount": "100.00", "currency": "USD"},
                        "new": {"amount": "84.90", "currency": "USD"},
                    },
                },
            }
        ).encode()
        url = f"http://127.0.0.1:{port}/hook"

        good = httpx.post(url, content=body, headers=_signed(secret, body))
        line = receiver.read_until("webhook below")
        bad = httpx.post(url, content=body, headers=_signed("whsec_" + "A" * 32, body))
        refused = receiver.read_until("INVALID")
    finally:
        receiver.stop()

    assert good.status_code == 200
    assert "Walnut desk lamp $100.00 → $84.90 — signature verified" in line
    assert bad.status_code == 401
    assert "SIGNATURE INVALID" in refused


def test_check_refusing_a_local_address_names_the_allowlist_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEALERT_")}
    done = subprocess.run(
        [sys.executable, "-m", "pricealert", "check", "http://127.0.0.1:9/p/lamp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("error: blocked_address:")
    assert "PRICEALERT_FETCH_ALLOWED_HOSTS=127.0.0.1" in done.stderr


def test_slo_budget_without_prometheus_says_why_it_shows_dashes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pricealert", "slo", "budget"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert " - " in done.stdout
    assert done.stdout.splitlines()[-1].startswith('"-": what is used and left is measured')
    assert "--prometheus URL" in done.stdout
