"""Where a Slack or webhook channel may point: checked when the channel is created.

- Webhooks: any URL the guarded client would fetch, by the guard's own static check
  (`pricealert.http.refusal_reason`: private, loopback and metadata literals, numeric IP
  spellings, ports of non-HTTP services); names are resolved and checked again at every
  delivery.
- Slack: Slack's incoming-webhook hosts only, over https on 443 — `hooks.slack.com` and
  `hooks.slack-gov.com` (GovSlack, Slack's separate US-government deployment, which hands
  out incoming webhooks on that host) — with the paths Slack issues there: `/services/`
  (incoming webhooks), `/workflows/` and `/triggers/` (Workflow Builder). Anything else
  would make "Slack" a second, unsigned webhook kind.

Hosts in `PRICEALERT_FETCH_ALLOWED_HOSTS` are accepted for both, as the client accepts
them at delivery: an operator's explicit exemption (a local receiver standing in for
Slack in a demo or a test).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from pricealert.errors import InvalidInput
from pricealert.http import AllowedHosts, refusal_reason

SLACK_HOSTS: Final = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
SLACK_PATHS: Final = ("/services/", "/workflows/", "/triggers/")


def check_target(kind: str, target: str, allowed_hosts: list[str]) -> None:
    """Raise `InvalidInput` when a Slack or webhook target can never be delivered to."""
    if kind not in {"slack", "webhook"}:
        return
    if reason := refusal_reason(target, allowed_hosts):
        raise InvalidInput(f"target can never be delivered to: {reason}", field="target")
    if kind == "slack":
        parts = urlsplit(target)
        host = parts.hostname or ""
        allowed = AllowedHosts(allowed_hosts)
        default_port = 443 if parts.scheme == "https" else 80
        if allowed and allowed.allows(host, parts.port or default_port):
            return
        if (
            parts.scheme != "https"
            or host not in SLACK_HOSTS
            or parts.port not in (None, 443)
            or not parts.path.startswith(SLACK_PATHS)
        ):
            raise InvalidInput(
                "target must be a Slack incoming-webhook URL "
                "(https://hooks.slack.com/services/...)",
                field="target",
            )
