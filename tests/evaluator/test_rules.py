"""The pure rules: examples of each kind, then properties over random price walks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricealert.availability import Availability
from pricealert.observed import ObservedState
from services.evaluator.rules import (
    Change,
    Decision,
    Observation,
    Outcome,
    Rule,
    evaluate,
    hysteresis,
    minor_unit,
)

D = Decimal
IN_STOCK, OUT_OF_STOCK = Availability.IN_STOCK, Availability.OUT_OF_STOCK


def seen(
    price: str | Decimal | None,
    currency: str = "USD",
    availability: Availability | None = IN_STOCK,
    *,
    suspicious: bool = False,
) -> Observation:
    state = ObservedState(None if price is None else D(price), currency, availability)
    return Observation(state, suspicious)


def walk(
    rule: Rule, observations: Sequence[Observation], state: dict[str, Any] | None = None
) -> list[Decision]:
    """Feed a sequence of rows to a rule the way the evaluator does, chaining state."""
    state = dict(state or {})
    decisions = []
    previous: Observation | None = None
    last_priced: Observation | None = None
    lows: dict[str | None, Decimal] = {}
    for new in observations:
        change = Change(new, previous, last_priced, lows.get(new.currency))
        decision = evaluate(rule, change, state)
        decisions.append(decision)
        state = decision.state
        previous = new
        if new.price is not None:
            last_priced = new
            if not new.suspicious:
                lows[new.currency] = min(lows.get(new.currency, new.price), new.price)
    return decisions


def outcomes(decisions: Sequence[Decision]) -> list[str]:
    return [d.outcome.value for d in decisions]


# --- below -------------------------------------------------------------------------------


def test_below_fires_when_the_price_crosses_into_the_zone_and_not_while_it_stays() -> None:
    rule = Rule("below", D("90"))
    decisions = walk(rule, [seen("100"), seen("89"), seen("85"), seen("90")])
    assert outcomes(decisions) == ["quiet", "fired", "quiet", "quiet"]


def test_below_rearms_only_once_the_price_leaves_the_zone_by_the_hysteresis() -> None:
    rule = Rule("below", D("100"))  # hysteresis: max(1.00, 0.01) = 1.00
    prices = ["101", "99.99", "100.01", "99.99", "100.99", "99", "101", "98"]
    decisions = walk(rule, [seen(p) for p in prices])
    assert outcomes(decisions) == [
        "quiet", "fired", "quiet", "quiet", "quiet", "quiet", "quiet", "fired",
    ]  # fmt: skip


def test_below_made_while_already_in_the_zone_starts_disarmed() -> None:
    rule = Rule("below", D("90"))
    state = {"created_price": "80", "created_currency": "USD", "created_in_stock": True}
    assert outcomes(walk(rule, [seen("79"), seen("100"), seen("85")], state)) == [
        "quiet", "quiet", "fired",
    ]  # fmt: skip


def test_below_fires_on_a_first_price_in_the_zone_when_none_was_known() -> None:
    state = {"created_price": None, "created_currency": None, "created_in_stock": None}
    assert outcomes(walk(Rule("below", D("90")), [seen("80")], state)) == ["fired"]


def test_below_ignores_rows_without_a_price() -> None:
    observations = [seen("100"), seen(None, availability=OUT_OF_STOCK), seen("80")]
    decisions = walk(Rule("below", D("90")), observations)
    assert outcomes(decisions) == ["quiet", "quiet", "fired"]


def test_hysteresis_is_one_percent_but_at_least_one_minor_unit() -> None:
    assert hysteresis(D("1000"), "JPY") == D("10")
    assert hysteresis(D("50"), "JPY") == D("1")
    assert hysteresis(D("0.50"), "USD") == D("0.01")
    assert minor_unit("KWD") == D("0.001")
    assert minor_unit(None) == D("0.01")


# --- drop_percent ------------------------------------------------------------------------


def test_drop_percent_measures_from_the_price_when_the_rule_was_made() -> None:
    state = {"created_price": "100", "created_currency": "USD"}
    decisions = walk(Rule("drop_percent", D("10")), [seen("95"), seen("90")], state)
    assert outcomes(decisions) == ["quiet", "fired"]
    assert decisions[-1].state["reference"] == "90"


def test_drop_percent_rebases_upward_when_the_price_rises() -> None:
    state = {"created_price": "100", "created_currency": "USD"}
    decisions = walk(Rule("drop_percent", D("10")), [seen("120"), seen("110"), seen("108")], state)
    assert outcomes(decisions) == ["quiet", "quiet", "fired"]  # 10 % under 120, not under 100
    assert decisions[0].state["reference"] == "120"


def test_drop_percent_needs_a_further_drop_after_firing() -> None:
    state = {"created_price": "100", "created_currency": "USD"}
    decisions = walk(Rule("drop_percent", D("20")), [seen("80"), seen("70"), seen("64")], state)
    assert outcomes(decisions) == ["fired", "quiet", "fired"]


def test_drop_percent_without_a_known_price_takes_the_first_as_reference() -> None:
    decisions = walk(Rule("drop_percent", D("10")), [seen("100"), seen("89")])
    assert outcomes(decisions) == ["quiet", "fired"]


# --- change, back_in_stock, lowest_ever --------------------------------------------------


def test_change_fires_on_any_price_change_against_the_last_known_price() -> None:
    observations = [
        seen("10"), seen("10", availability=OUT_OF_STOCK), seen(None), seen("11"), seen("11"),
    ]  # fmt: skip
    assert outcomes(walk(Rule("change"), observations)) == [
        "quiet", "quiet", "quiet", "fired", "quiet",
    ]  # fmt: skip


def test_back_in_stock_fires_only_from_out_of_stock() -> None:
    observations = [
        seen("10", availability=None), seen("10"), seen("10", availability=OUT_OF_STOCK),
        seen("11"), seen("11"),
    ]  # fmt: skip
    assert outcomes(walk(Rule("back_in_stock"), observations)) == [
        "quiet", "quiet", "quiet", "fired", "quiet",
    ]  # fmt: skip


def test_a_first_observation_in_stock_is_not_back_in_stock() -> None:
    assert outcomes(walk(Rule("back_in_stock"), [seen("10")])) == ["quiet"]


#: The issue's table, spelled out here rather than read from the code under test.
ORDERABLE_NOW = {"InStock", "LimitedAvailability", "InStoreOnly", "OnlineOnly"}
NOT_ORDERABLE_NOW = {"OutOfStock", "SoldOut", "Discontinued", "PreOrder", "PreSale", "BackOrder"}


def test_the_table_names_every_availability_once() -> None:
    assert {a.value for a in Availability} == ORDERABLE_NOW | NOT_ORDERABLE_NOW
    assert not ORDERABLE_NOW & NOT_ORDERABLE_NOW


@pytest.mark.parametrize("before", [None, *Availability])
@pytest.mark.parametrize("after", [None, *Availability])
def test_back_in_stock_fires_exactly_from_not_orderable_now_to_orderable_now(
    before: Availability | None, after: Availability | None
) -> None:
    decisions = walk(Rule("back_in_stock"), [seen("10", availability=before),
                                             seen("10", availability=after)])  # fmt: skip
    fires = before in NOT_ORDERABLE_NOW and after in ORDERABLE_NOW
    assert outcomes(decisions) == ["quiet", "fired" if fires else "quiet"]
    if fires:
        assert decisions[-1].reason == f"back in stock ({before} → {after})"


def test_a_pre_order_becoming_orderable_is_back_in_stock_and_the_reverse_is_not() -> None:
    rule = Rule("back_in_stock")
    pre_order, limited = Availability.PRE_ORDER, Availability.LIMITED_AVAILABILITY
    assert outcomes(walk(rule, [seen("10", availability=pre_order), seen("10")])) == [
        "quiet", "fired",
    ]  # fmt: skip
    from_out_of_stock = [seen("10", availability=OUT_OF_STOCK), seen("10", availability=pre_order)]
    assert outcomes(walk(rule, from_out_of_stock)) == ["quiet", "quiet"]
    assert outcomes(walk(rule, [seen("10"), seen("10", availability=limited)])) == [
        "quiet", "quiet",
    ]  # fmt: skip


def test_lowest_ever_fires_only_on_a_strictly_lower_price() -> None:
    observations = [seen("50"), seen("40"), seen("45"), seen("40"), seen("39.99")]
    assert outcomes(walk(Rule("lowest_ever"), observations)) == [
        "quiet", "fired", "quiet", "quiet", "fired",
    ]  # fmt: skip


def test_a_suspicious_low_does_not_count_as_the_lowest_ever() -> None:
    observations = [seen("50"), seen("1", suspicious=True), seen("50"), seen("45")]
    assert outcomes(walk(Rule("lowest_ever"), observations)) == [
        "quiet", "suppressed", "quiet", "fired",
    ]  # fmt: skip


# --- currency changes and suspicious rows ------------------------------------------------


def test_a_currency_change_suppresses_every_price_rule() -> None:
    for rule in (
        Rule("below", D("90")), Rule("drop_percent", D("5")), Rule("change"), Rule("lowest_ever"),
    ):  # fmt: skip
        decisions = walk(rule, [seen("100", "USD"), seen("80", "EUR")])
        assert outcomes(decisions) == ["quiet", "suppressed"], rule
        assert "currency changed from USD to EUR" in decisions[-1].reason


def test_a_currency_change_suppresses_back_in_stock_only_when_it_would_fire() -> None:
    rule = Rule("back_in_stock")
    back = [seen("10", "USD", OUT_OF_STOCK), seen("9", "EUR")]
    assert outcomes(walk(rule, back))[-1] == "suppressed"
    assert outcomes(walk(rule, [seen("10", "USD"), seen("9", "EUR")]))[-1] == "quiet"


def test_drop_percent_compares_in_the_new_currency_after_a_currency_change() -> None:
    decisions = walk(
        Rule("drop_percent", D("10")), [seen("100", "USD"), seen("80", "EUR"), seen("70", "EUR")]
    )
    assert outcomes(decisions) == ["quiet", "suppressed", "fired"]


def test_a_suspicious_row_that_would_fire_is_suppressed_and_the_rule_moves_on() -> None:
    rule = Rule("below", D("90"))
    decisions = walk(rule, [seen("100"), seen("1", suspicious=True), seen("2")])
    assert outcomes(decisions) == ["quiet", "suppressed", "quiet"]
    assert "implausible" in decisions[1].reason


def test_evaluate_does_not_mutate_the_state_it_is_given() -> None:
    state = {"created_price": "100", "created_currency": "USD"}
    frozen = json.dumps(state)
    evaluate(Rule("drop_percent", D("10")), Change(seen("50"), seen("100"), seen("100")), state)
    assert json.dumps(state) == frozen


def test_an_unknown_kind_is_quiet() -> None:
    assert evaluate(Rule("sideways"), Change(seen("1")), {}).outcome is Outcome.QUIET


# --- properties ---------------------------------------------------------------------------

prices = st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2, allow_nan=False)
thresholds = st.decimals(min_value=D("1"), max_value=D("900"), places=2, allow_nan=False)
walks = st.lists(prices, min_size=1, max_size=40)
currencies = st.sampled_from(["USD", "EUR", "JPY"])
kinds = st.sampled_from(["below", "drop_percent", "change", "back_in_stock", "lowest_ever"])
observations = st.builds(
    Observation,
    state=st.builds(
        ObservedState,
        price=st.one_of(st.none(), prices),
        currency=currencies,
        availability=st.sampled_from([None, *Availability]),
    ),
    suspicious=st.booleans(),
)


def _rule(kind: str, threshold: Decimal) -> Rule:
    if kind == "below":
        return Rule(kind, threshold)
    if kind == "drop_percent":
        return Rule(kind, min(threshold / 10, D("99")))
    return Rule(kind)


@given(threshold=thresholds, walk_prices=walks)
def test_below_fires_only_in_the_zone_and_never_twice_without_leaving_it(
    threshold: Decimal, walk_prices: list[Decimal]
) -> None:
    decisions = walk(Rule("below", threshold), [seen(p, "USD") for p in walk_prices])
    rearm_at = threshold + hysteresis(threshold, "USD")
    left_zone = True  # no price known when the rule was made: armed
    for price, decision in zip(walk_prices, decisions, strict=True):
        if decision.outcome is Outcome.FIRED:
            assert price <= threshold
            assert left_zone
            left_zone = False
        elif price <= threshold:
            assert not left_zone  # armed and in the zone always fires
        if price >= rearm_at:
            left_zone = True


@given(percent=st.decimals(min_value=D("1"), max_value=D("90"), places=1), walk_prices=walks)
def test_drop_percent_fires_exactly_when_the_price_is_n_percent_under_the_peak_since_last_fire(
    percent: Decimal, walk_prices: list[Decimal]
) -> None:
    decisions = walk(Rule("drop_percent", percent), [seen(p, "USD") for p in walk_prices])
    peak: Decimal | None = None
    for price, decision in zip(walk_prices, decisions, strict=True):
        should_fire = peak is not None and price < peak and (peak - price) / peak * 100 >= percent
        assert (decision.outcome is Outcome.FIRED) == should_fire
        peak = price if peak is None or should_fire or price > peak else peak


@given(walk_prices=walks)
def test_change_fires_exactly_when_the_price_differs_from_the_last(
    walk_prices: list[Decimal],
) -> None:
    decisions = walk(Rule("change"), [seen(p, "EUR") for p in walk_prices])
    for index, decision in enumerate(decisions):
        changed = index > 0 and walk_prices[index] != walk_prices[index - 1]
        assert (decision.outcome is Outcome.FIRED) == changed


@given(walk_prices=walks)
def test_lowest_ever_fires_exactly_on_a_new_strict_low(walk_prices: list[Decimal]) -> None:
    decisions = walk(Rule("lowest_ever"), [seen(p, "JPY", None) for p in walk_prices])
    for index, decision in enumerate(decisions):
        new_low = index > 0 and walk_prices[index] < min(walk_prices[:index])
        assert (decision.outcome is Outcome.FIRED) == new_low


@given(kind=kinds, threshold=thresholds, history=st.lists(observations, min_size=1, max_size=30))
def test_suspicious_rows_and_currency_changes_never_fire_and_states_stay_json(
    kind: str, threshold: Decimal, history: list[Observation]
) -> None:
    decisions = walk(_rule(kind, threshold), history)
    last_currency: str | None = None
    for new, decision in zip(history, decisions, strict=True):
        currency_changed = new.price is not None and last_currency not in (None, new.currency)
        if new.suspicious or currency_changed:
            assert decision.outcome is not Outcome.FIRED
        if currency_changed and kind != "back_in_stock":
            assert decision.outcome is Outcome.SUPPRESSED
        if new.price is not None:
            last_currency = new.currency
        assert json.loads(json.dumps(decision.state)) == decision.state


@given(kind=kinds, threshold=thresholds, history=st.lists(observations, min_size=1, max_size=15))
def test_evaluation_is_deterministic(
    kind: str, threshold: Decimal, history: list[Observation]
) -> None:
    rule = _rule(kind, threshold)
    assert walk(rule, history) == walk(rule, history)
