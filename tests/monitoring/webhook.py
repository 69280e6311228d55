"""A real HTTP server standing in for Slack, email, SNS and PagerDuty in Alertmanager tests.

Each receiver of the test copy of alertmanager.yml posts to `/<receiver name>`;
the server records which alerts reached which receiver.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INTEGRATIONS = (
    "slack_configs", "email_configs", "sns_configs", "pagerduty_configs",
    "webhook_configs", "opsgenie_configs", "pushover_configs", "victorops_configs",
    "wechat_configs", "telegram_configs", "discord_configs", "webex_configs", "msteams_configs",
)  # fmt: skip


def webhook_copy(config: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The same config with every receiver's integrations swapped for one webhook."""
    test_config = copy.deepcopy(config)
    for receiver in test_config["receivers"]:
        for key in INTEGRATIONS:
            receiver.pop(key, None)
        receiver["webhook_configs"] = [
            {"url": f"{base_url}/{receiver['name']}", "send_resolved": False}
        ]
    return test_config


class WebhookReceiver:
    """Records (receiver, alert labels) of every notification posted to it."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._arrived:
                    for alert in body["alerts"]:
                        receiver.deliveries.append((self.path.strip("/"), alert["labels"]))
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float) -> list[tuple[str, dict[str, str]]]:
        """The deliveries once at least `count` arrived (or what arrived by `timeout`)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.deliveries) >= count, timeout=timeout)
            return list(self.deliveries)
