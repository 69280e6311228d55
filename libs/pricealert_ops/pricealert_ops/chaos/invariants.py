"""The invariants every experiment is judged by: pure functions of its `Records`.

1. `alerts_exactly_as_ruled` — each product has one `change` rule, so every
   price change the shop made before `due_by` (the end of the price moves,
   which the run follows with up to `settle` seconds of waiting) asks for exactly one
   notification in the record (PostgreSQL), sent, and delivered to the receiver
   under that notification's `webhook-id` with a valid signature (retries may
   repeat the request: at-least-once to the receiver, exactly once in the
   record). No notification may exist for a change the shop never made, and no
   change may reach the receiver under two ids.
2. `no_price_from_a_failed_fetch` — every price PostgreSQL recorded is one the
   shop really served for that product; a captcha or truncated page's decoy
   price never is.
3. `checks_on_time` — no product that is not paused was ever seen by the
   sampler overdue by more than lease + slack (its interval is already in
   `next_check_at`), the time PostgreSQL or Redis was away added where it overlaps.
4. `api_available` — outside the excused windows (PostgreSQL restarting), the
   share of /healthz probes answered is at least the api-availability objective
   and the share of authenticated reads answered without a 5xx at least the
   api-success objective (monitoring/slo.yaml).
5. `readyz_reports_the_outage` — while PostgreSQL was down, every /readyz probe
   answered 503 (and there was at least one).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pricealert_ops.chaos.records import Probe, Records, Window

Key = tuple[int, Decimal, Decimal]  # (product, old price, new price)
#: How many examples of a broken invariant the verdict lists.
EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    """One invariant's outcome: `holds`, a one-line summary, and the figures behind it."""

    name: str
    holds: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def check_all(records: Records) -> list[Check]:
    """Every invariant, in the order the report lists them."""
    checks = [
        alerts_exactly_as_ruled(records),
        no_price_from_a_failed_fetch(records),
        checks_on_time(records),
        api_available(records),
    ]
    if records.database_down:
        checks.append(readyz_reports_the_outage(records))
    return checks


def alerts_exactly_as_ruled(records: Records) -> Check:
    """Each change before the cutoff: one notification, sent, delivered signed under its id."""
    cutoff = records.due_by
    scheduled = {(c.product, c.old, c.new): c for c in records.changes}
    expected = {key for key, change in scheduled.items() if change.at <= cutoff}
    rows_by_key: dict[Key, list[str]] = defaultdict(list)
    phantom: list[str] = []
    for row in records.notifications:
        if row.product is None or row.old is None or row.new is None:
            phantom.append(row.id)
            continue
        key = (row.product, row.old, row.new)
        (rows_by_key[key] if key in scheduled else phantom).append(row.id)
    status = {row.id: row.status for row in records.notifications}
    delivered_ids = {d.webhook_id for d in records.deliveries if d.signature_valid}
    ids_by_key: dict[Key, set[str]] = defaultdict(set)
    for delivery in records.deliveries:
        if delivery.product is not None and delivery.old is not None and delivery.new is not None:
            ids_by_key[(delivery.product, delivery.old, delivery.new)].add(delivery.webhook_id)
    missing = sorted(_show(k) for k in expected if not rows_by_key.get(k))
    duplicated = sorted(_show(k) for k, ids in rows_by_key.items() if len(ids) > 1)
    duplicated += sorted(
        f"{_show(k)} reached the receiver under {len(ids)} ids"
        for k, ids in ids_by_key.items()
        if len(ids) > 1
    )
    undelivered = sorted(
        f"{_show(k)} ({status[ids[0]]})"
        for k in expected
        if len(ids := rows_by_key.get(k, [])) == 1
        and (status[ids[0]] != "sent" or ids[0] not in delivered_ids)
    )
    known_ids = set(status)
    stray = sorted({d.webhook_id for d in records.deliveries} - known_ids)
    unsigned = sorted({d.webhook_id for d in records.deliveries if not d.signature_valid})
    problems = {
        "missing": missing,
        "duplicated": duplicated,
        "undelivered": undelivered,
        "phantom": sorted(phantom),
        "unknown_webhook_ids": stray,
        "bad_signatures": unsigned,
    }
    broken = {name: items for name, items in problems.items() if items}
    receiver_requests = len(records.deliveries)
    details: dict[str, Any] = {
        "changes_made": len(records.changes),
        "changes_due": len(expected),
        "notifications": len(records.notifications),
        "webhook_requests": receiver_requests,
        "distinct_webhook_ids": len({d.webhook_id for d in records.deliveries}),
    }
    details.update({name: items[:EXAMPLES] for name, items in broken.items()})
    details.update({f"{name}_count": len(items) for name, items in broken.items()})
    if broken:
        summary = ", ".join(f"{len(items)} {name}" for name, items in broken.items())
    else:
        summary = (
            f"{len(expected)} changes due, {len(expected)} alerts sent once "
            f"({receiver_requests} webhook requests, retries included)"
        )
    return Check("alerts_exactly_as_ruled", not broken, summary, details)


def no_price_from_a_failed_fetch(records: Records) -> Check:
    """Every recorded price was served by the shop for that product (never a decoy)."""
    bad = [
        f"product {row.product}: {row.price}"
        + (" (a fault page's decoy)" if row.price in records.decoy_prices else "")
        for row in records.history
        if row.price is not None and row.price not in records.served_prices.get(row.product, set())
    ]
    summary = (
        f"{len(records.history)} recorded states, all served by the shop"
        if not bad
        else f"{len(bad)} recorded prices the shop never served"
    )
    return Check(
        "no_price_from_a_failed_fetch",
        not bad,
        summary,
        {"recorded_states": len(records.history), "foreign_prices": bad[:EXAMPLES]},
    )


def checks_on_time(records: Records) -> Check:
    """No unpaused product overdue by more than lease + slack (+ database downtime)."""
    allowed = records.bounds.lease_seconds + records.bounds.slack_seconds
    worst: tuple[float, int, float] | None = None  # (lateness, product, at)
    late: dict[int, float] = {}
    paused: set[int] = set()
    for sample in records.samples:
        if sample.status == "paused":
            paused.add(sample.product)
            continue
        lateness = sample.at - sample.next_check_at
        downtime = _overlap(records.outages, sample.next_check_at, sample.at)
        if worst is None or lateness - downtime > worst[0]:
            worst = (lateness - downtime, sample.product, sample.at)
        if lateness - downtime > allowed:
            late[sample.product] = max(late.get(sample.product, 0.0), lateness - downtime)
    holds = bool(records.samples) and not late and not paused
    worst_lateness = round(worst[0], 2) if worst else None
    if not records.samples:
        summary = "no samples of the schedule were taken"
    elif holds:
        summary = f"worst lateness {worst_lateness} s ≤ lease + slack {allowed:.0f} s"
    else:
        summary = f"{len(late)} products overdue beyond {allowed:.0f} s, {len(paused)} paused"
    return Check(
        "checks_on_time",
        holds,
        summary,
        {
            "samples": len(records.samples),
            "allowed_lateness_seconds": allowed,
            "worst_lateness_seconds": worst_lateness,
            "overdue_products": {str(p): round(s, 2) for p, s in sorted(late.items())[:EXAMPLES]},
            "paused_products": sorted(paused)[:EXAMPLES],
        },
    )


def api_available(records: Records) -> Check:
    """/healthz answered and authenticated reads without 5xx, at least as often as the SLOs."""
    counted = [p for p in records.probes if not _inside(records.excused, p.at)]
    health = _share(counted, "healthz", lambda p: p.status is not None and p.status < 500)
    reads = _share(counted, "read", lambda p: p.status is not None and p.status < 500)
    bounds = records.bounds
    holds = (
        health[1] > 0
        and reads[1] > 0
        and _percent(health) >= bounds.availability_objective
        and _percent(reads) >= bounds.success_objective
    )
    failures = [
        f"{p.endpoint} at +{p.at - records.started:.1f} s: {p.status or 'no answer'}"
        for p in counted
        if p.endpoint in {"healthz", "read"} and (p.status is None or p.status >= 500)
    ]
    summary = (
        f"healthz {_percent(health)} % (≥ {bounds.availability_objective}), "
        f"reads {_percent(reads)} % (≥ {bounds.success_objective}) over "
        f"{health[1] + reads[1]} probes"
    )
    return Check(
        "api_available",
        holds,
        summary,
        {
            "healthz_ok": health[0],
            "healthz_total": health[1],
            "reads_ok": reads[0],
            "reads_total": reads[1],
            "excused_probes": len(records.probes) - len(counted),
            "failures": failures[:EXAMPLES],
            "failure_count": len(failures),
        },
    )


def readyz_reports_the_outage(records: Records) -> Check:
    """While PostgreSQL was down, /readyz said 503 every time it was asked."""
    during = [
        p for p in records.probes if p.endpoint == "readyz" and _inside(records.database_down, p.at)
    ]
    wrong = [p for p in during if p.status != 503]
    holds = bool(during) and not wrong
    summary = (
        f"{len(during)} /readyz probes during the outage, {len(wrong)} not 503"
        if during
        else "no /readyz probe fell inside the outage"
    )
    return Check(
        "readyz_reports_the_outage",
        holds,
        summary,
        {"probes": len(during), "not_503": [p.status for p in wrong][:EXAMPLES]},
    )


def _share(probes: list[Probe], endpoint: str, ok: Any) -> tuple[int, int]:
    mine = [p for p in probes if p.endpoint == endpoint]
    return sum(1 for p in mine if ok(p)), len(mine)


def _percent(share: tuple[int, int]) -> Decimal:
    good, total = share
    if total == 0:
        return Decimal(0)
    return (Decimal(100) * good / total).quantize(Decimal("0.01"))


def _inside(windows: list[Window], at: float) -> bool:
    return any(window.contains(at) for window in windows)


def _overlap(windows: list[Window], start: float, end: float) -> float:
    return sum(max(0.0, min(end, w.end) - max(start, w.start)) for w in windows)


def _show(key: Key) -> str:
    product, old, new = key
    return f"product {product}: {old} → {new}"
