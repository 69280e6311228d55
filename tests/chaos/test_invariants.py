"""The verdict code can fail: records with a lost, duplicated or phantom alert, a late check,
an unanswered probe or a wrong /readyz each break their invariant (and a clean record holds).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from pricealert_ops.chaos.invariants import Check, check_all
from pricealert_ops.chaos.records import (
    Bounds,
    Delivery,
    DueSample,
    HistoryRow,
    NotificationRow,
    PriceChange,
    Probe,
    Records,
    Window,
)
from pricealert_ops.chaos.world import PriceSchedule, decoy_price

T0 = 1_800_000_000.0
D = Decimal


def clean_records() -> Records:
    """Two products, one change each, each alerted once and delivered (the second twice)."""
    records = Records(
        started=T0,
        due_by=T0 + 30,
        ended=T0 + 40,
        bounds=Bounds(
            settle_seconds=20,
            lease_seconds=6,
            slack_seconds=6,
            availability_objective=D("99.9"),
            success_objective=D("99.95"),
        ),
    )
    records.changes = [
        PriceChange(0, T0 + 5, D("20.90"), D("19.80")),
        PriceChange(1, T0 + 8, D("30.90"), D("32.10")),
    ]
    records.served_prices = {0: {D("20.90"), D("19.80")}, 1: {D("30.90"), D("32.10")}}
    records.notifications = [
        NotificationRow("n-a", 0, "sent", 1, D("20.90"), D("19.80")),
        NotificationRow("n-b", 1, "sent", 2, D("30.90"), D("32.10")),
    ]
    records.deliveries = [
        Delivery("n-a", T0 + 6, True, 0, D("20.90"), D("19.80")),
        Delivery("n-b", T0 + 9, True, 1, D("30.90"), D("32.10")),
        Delivery("n-b", T0 + 10, True, 1, D("30.90"), D("32.10")),  # a retry: at-least-once
    ]
    records.history = [
        HistoryRow(0, D("20.90"), T0 - 5, False),
        HistoryRow(0, D("19.80"), T0 + 6, False),
        HistoryRow(1, D("30.90"), T0 - 5, False),
        HistoryRow(1, D("32.10"), T0 + 9, False),
    ]
    records.samples = [DueSample(T0 + s, p, T0 + s - 1, T0 + s - 2, "active")
                       for s in range(0, 40, 2) for p in (0, 1)]  # fmt: skip
    records.probes = [Probe(T0 + s / 4, e, 200, 0.01)
                      for s in range(160) for e in ("healthz", "read", "readyz")]  # fmt: skip
    return records


def verdict(records: Records) -> dict[str, Check]:
    return {check.name: check for check in check_all(records)}


def test_a_clean_record_holds_every_invariant() -> None:
    checks = verdict(clean_records())

    assert all(check.holds for check in checks.values()), checks
    assert checks["alerts_exactly_as_ruled"].details["changes_due"] == 2


def test_a_change_without_a_notification_is_a_missing_alert() -> None:
    records = clean_records()
    records.notifications = records.notifications[:1]
    records.deliveries = records.deliveries[:1]

    check = verdict(records)["alerts_exactly_as_ruled"]

    assert not check.holds
    assert check.details["missing"] == ["product 1: 30.90 → 32.10"]


def test_two_notifications_for_one_change_are_a_duplicate_even_if_the_receiver_dedupes() -> None:
    records = clean_records()
    records.notifications.append(NotificationRow("n-c", 1, "sent", 1, D("30.90"), D("32.10")))
    records.deliveries.append(Delivery("n-c", T0 + 11, True, 1, D("30.90"), D("32.10")))

    check = verdict(records)["alerts_exactly_as_ruled"]

    assert not check.holds
    assert check.details["duplicated_count"] == 2  # two rows, and two ids at the receiver


def test_a_notification_for_a_change_the_shop_never_made_is_a_phantom() -> None:
    records = clean_records()
    records.notifications.append(NotificationRow("n-x", 0, "sent", 1, D("19.80"), D("19.17")))

    check = verdict(records)["alerts_exactly_as_ruled"]

    assert not check.holds
    assert check.details["phantom"] == ["n-x"]


def test_a_sent_notification_the_receiver_never_got_signed_is_undelivered() -> None:
    records = clean_records()
    records.deliveries[0] = replace(records.deliveries[0], signature_valid=False)

    check = verdict(records)["alerts_exactly_as_ruled"]

    assert not check.holds
    assert check.details["bad_signatures"] == ["n-a"]
    assert check.details["undelivered"] == ["product 0: 20.90 → 19.80 (sent)"]


def test_a_change_after_the_run_need_not_have_alerted_yet() -> None:
    records = clean_records()
    records.changes.append(PriceChange(0, records.due_by + 1, D("19.80"), D("20.60")))

    assert verdict(records)["alerts_exactly_as_ruled"].holds


def test_a_recorded_decoy_price_is_a_price_from_a_failed_fetch() -> None:
    records = clean_records()
    decoy = decoy_price(D("19.80"))
    records.decoy_prices = {decoy}
    records.history.append(HistoryRow(0, decoy, T0 + 12, False))

    check = verdict(records)["no_price_from_a_failed_fetch"]

    assert not check.holds
    assert check.details["foreign_prices"] == [f"product 0: {decoy} (a fault page's decoy)"]


def test_a_product_overdue_beyond_lease_and_slack_breaks_the_check_invariant() -> None:
    records = clean_records()
    records.samples.append(DueSample(T0 + 30, 1, T0 + 30 - 12.5, T0 + 10, "active"))

    check = verdict(records)["checks_on_time"]

    assert not check.holds
    assert check.details["overdue_products"] == {"1": 12.5}


def test_time_a_dependency_was_away_is_added_to_the_allowed_lateness() -> None:
    records = clean_records()
    records.samples.append(DueSample(T0 + 30, 1, T0 + 30 - 12.5, T0 + 10, "active"))
    records.outages = [Window("redis_restart", T0 + 20, T0 + 25)]

    assert verdict(records)["checks_on_time"].holds


def test_a_paused_product_is_never_checked_again_and_breaks_the_check_invariant() -> None:
    records = clean_records()
    records.samples.append(DueSample(T0 + 30, 0, T0 + 100, T0 + 29, "paused"))

    assert not verdict(records)["checks_on_time"].holds


def test_one_failed_read_in_a_short_run_is_below_the_success_objective() -> None:
    records = clean_records()
    records.probes.append(Probe(T0 + 3, "read", 500, 0.01))

    check = verdict(records)["api_available"]

    assert not check.holds
    assert check.details["failures"] == ["read at +3.0 s: 500"]


def test_failures_while_postgres_restarts_are_excused_but_readyz_must_say_503() -> None:
    records = clean_records()
    down = Window("postgres_down", T0 + 10, T0 + 14)
    records.database_down = [down]
    records.excused = [Window("postgres_restart", T0 + 9.9, T0 + 16)]
    records.probes = [p for p in records.probes if not down.contains(p.at)]
    records.probes += [Probe(T0 + 11, "read", None, 2.0), Probe(T0 + 12, "readyz", 503, 0.1)]

    assert verdict(records)["api_available"].holds
    assert verdict(records)["readyz_reports_the_outage"].holds

    records.probes.append(Probe(T0 + 13, "readyz", 200, 0.1))

    assert not verdict(records)["readyz_reports_the_outage"].holds


@pytest.mark.parametrize("hold", [10.0, 16.0, 26.0])
def test_the_schedule_holds_every_price_long_enough_and_never_repeats_one(hold: float) -> None:
    schedule = PriceSchedule(products=12, hold_seconds=hold, duration_seconds=120)
    schedule.begin(T0)

    for steps in schedule.steps:
        offsets = [at for at, _ in steps]
        assert all(b - a >= hold - 1e-9 for a, b in itertools.pairwise(offsets[1:]))
        prices = [price for _, price in steps]
        assert len(set(prices)) == len(prices)
        assert all(price * 100 % 2 == 0 for price in prices)  # decoys end in an odd cent
    changes = schedule.changes(T0 + 120)
    assert all(schedule.price(c.product, c.at) == c.new for c in changes)
    assert all(schedule.price(c.product, c.at - 0.001) == c.old for c in changes)
    assert all(decoy_price(c.new) * 100 % 2 == 1 for c in changes)
