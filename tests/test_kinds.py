"""Every kind in `pricealert.kinds` is handled everywhere it must be.

Adding a rule kind or a channel kind to the enum makes these tests name the place that
does not know it yet: the evaluator, the notifier's message, the API reference, a sender,
the web UI's forms, the tables' CHECK constraints.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import CheckConstraint

from pricealert.availability import Availability
from pricealert.http import GuardedClient
from pricealert.kinds import (
    CAPPED_STATUSES,
    ChannelKind,
    NotificationStatus,
    RuleKind,
    sql_in,
)
from pricealert.models import AlertRule, Base, Channel, Notification
from pricealert.observed import ObservedState
from services.api.alerts.schemas import RULE_KIND_DOCS
from services.api.channels.schemas import CHANNEL_KIND_DOCS
from services.api.main import create_app
from services.evaluator.rules import Change, Observation, Outcome, Rule, evaluate
from services.notifier.channels import build_senders
from services.notifier.message import SUBJECTS, render
from services.notifier.settings import NotifierSettings
from services.web.pages import activity, alerts, channels

#: A change every rule kind fires on: out of stock at 100.00 USD, back in stock at 50.00.
_BEFORE = Observation(ObservedState(Decimal("100.00"), "USD", Availability.OUT_OF_STOCK))
_AFTER = Observation(ObservedState(Decimal("50.00"), "USD", Availability.IN_STOCK))
_THRESHOLDS = {RuleKind.BELOW: Decimal("60"), RuleKind.DROP_PERCENT: Decimal("10")}


@pytest.mark.parametrize("kind", list(RuleKind))
def test_every_rule_kind_has_an_evaluator_that_fires_on_its_change(kind: RuleKind) -> None:
    change = Change(new=_AFTER, previous=_BEFORE, last_priced=_BEFORE, lowest_before=_BEFORE.price)
    state = {"reference": "100.00", "reference_currency": "USD"} if kind == "drop_percent" else {}

    decision = evaluate(Rule(kind, _THRESHOLDS.get(kind)), change, state)

    assert decision.outcome is Outcome.FIRED, decision.reason


@pytest.mark.parametrize("kind", list(RuleKind))
def test_every_rule_kind_has_its_own_message(kind: RuleKind) -> None:
    payload = {
        "data": {
            "product": {"title": "Kettle"},
            "alert": {"kind": kind.value, "threshold": "60"},
            "price": {
                "old": {"amount": "100.00", "currency": "USD"},
                "new": {"amount": "50.00", "currency": "USD"},
            },
        }
    }

    subject = render(payload, "https://api.pricealert.test").subject

    assert set(SUBJECTS) == set(RuleKind)
    others = {render_subject(other) for other in RuleKind if other is not kind}
    assert subject.startswith("Kettle")
    assert subject not in others


def render_subject(kind: RuleKind) -> str:
    return SUBJECTS[kind].format(title="Kettle", old="100.00 USD", new="50.00 USD", threshold="60")


def test_every_kind_is_documented_in_the_api_reference() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    rule_kind = schemas["AlertCreate"]["properties"]["kind"]
    channel_kind = schemas["ChannelCreate"]["properties"]["kind"]

    assert list(RULE_KIND_DOCS) == list(RuleKind)
    assert list(CHANNEL_KIND_DOCS) == list(ChannelKind)
    assert [k for k in RuleKind if f"`{k}`: " not in rule_kind["description"]] == []
    assert [k for k in ChannelKind if f"`{k}`: " not in channel_kind["description"]] == []
    assert schemas["RuleKind"]["enum"] == list(RuleKind)
    assert schemas["ChannelKind"]["enum"] == list(ChannelKind)


def test_every_channel_kind_has_a_sender() -> None:
    settings = NotifierSettings(public_base_url="https://api.pricealert.test")
    client = GuardedClient.from_settings(settings)

    senders = build_senders(settings, client)

    assert set(senders) == set(ChannelKind)
    assert all(callable(getattr(sender, "send", None)) for sender in senders.values())


def test_the_web_forms_offer_every_kind_and_filter_by_every_status() -> None:
    assert sorted(alerts.KINDS) == sorted(RuleKind)
    assert set(alerts.THRESHOLD_KINDS) == set(_THRESHOLDS)
    assert sorted(channels.KINDS) == sorted(ChannelKind)
    assert sorted(activity.STATUSES) == sorted(NotificationStatus)


def _check(table: type[Base], name: str) -> str:
    constraints = [
        c
        for c in Base.metadata.tables[table.__tablename__].constraints
        if isinstance(c, CheckConstraint)
    ]
    return next(str(c.sqltext) for c in constraints if c.name == f"ck_{table.__tablename__}_{name}")


def test_the_tables_check_constraints_are_built_from_the_enums() -> None:
    assert _check(AlertRule, "kind") == (
        "kind IN ('below', 'drop_percent', 'change', 'back_in_stock', 'lowest_ever')"
    )
    assert _check(Channel, "kind") == "kind IN ('email', 'sms', 'slack', 'webhook')"
    assert _check(Notification, "status") == sql_in("status", tuple(NotificationStatus))


def test_the_daily_caps_count_what_was_or_will_be_sent() -> None:
    assert sql_in("n.status", CAPPED_STATUSES) == "n.status IN ('pending', 'sent')"
