"""Alert rules as pure functions: (rule, change, rule state) -> decision. No I/O.

A *change* is one new price-history row of a product seen against what came
before it (`Change`); the rule *state* is the JSON the evaluator keeps in
`alert_rule.state` between changes. `evaluate` returns a `Decision`: the
outcome (`fired`, `quiet` or `suppressed`), the new state, and a reason a
person can read. Cooldowns and daily caps are not rules' business: they are
applied afterwards by the evaluator, to fired decisions only.

The kinds:

- `below` — the price is at or under `threshold` (in the product's currency).
  The rule fires when the price *enters* that zone while the rule is armed,
  then disarms; it re-arms only once the price has left the zone by the
  hysteresis `h = max(1 % of threshold, one minor unit of the currency)`, i.e.
  when the price is at least `threshold + h`. A price flickering 99.99 ↔ 100.01
  around a threshold of 100 therefore alerts once, not on every flicker. A rule
  made while the price is already in the zone starts disarmed (the user can see
  that price; it is not news). A change without a price leaves the state alone.
- `drop_percent` — the price fell by at least `threshold` % below the
  *reference*: the highest price seen since the rule was made or last fired
  (it starts at the price when the rule was made, is raised whenever the price
  rises above it, and is set to the new price when the rule fires, so the next
  alert needs a further drop of N % from there).
- `change` — the price differs from the last known price.
- `back_in_stock` — follows `in_stock` as derived from availability
  (`pricealert.availability`): the previous row was not orderable now
  (`in_stock` false: OutOfStock, SoldOut, Discontinued, PreOrder, PreSale,
  BackOrder) and the new one is (true: InStock, LimitedAvailability,
  InStoreOnly, OnlineOnly). So PreOrder → InStock fires, OutOfStock → PreOrder
  and InStock → LimitedAvailability do not, and unknown (`None`) → InStock is
  not "back".
- `lowest_ever` — the price is strictly lower than every earlier
  non-suspicious price of the product in the same currency (a first price is
  not a "new low": there is nothing to compare it with).

Prices are compared only within one currency. Two kinds of change never fire:

- a *currency change* (the new price's currency differs from the last known
  price's): every price rule (all kinds but `back_in_stock`) is `suppressed`
  whether or not it would have fired, so the user learns once that their
  threshold or reference no longer compares; `drop_percent` re-bases its
  reference to the new currency; `back_in_stock` is suppressed if it would fire;
- a *suspicious* row (an implausible jump confirmed by a second fetch): a rule
  that would have fired is `suppressed` instead; the state still moves on (a
  `below` rule disarms), so the same implausible price does not fire later.

Rule state keys (JSON, decimals as strings): `armed` (below), `reference` and
`reference_currency` (drop_percent). Keys the rule does not own (the API's
`created_*`, the evaluator's `history_id`) are carried through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from pricealert.observed import ObservedState

#: Currencies whose minor unit is not 1/100 (ISO 4217 exponent 0 or 3).
_ZERO_DECIMALS: Final = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS: Final = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT: Final = {
    **dict.fromkeys(_ZERO_DECIMALS.split(" "), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(" "), 3),
}
HYSTERESIS_FRACTION: Final = Decimal("0.01")
PRICE_KINDS: Final = frozenset({"below", "drop_percent", "change", "lowest_ever"})


class Outcome(StrEnum):
    FIRED = "fired"
    QUIET = "quiet"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True, slots=True)
class Observation:
    """One observed state of a product (a price-history row)."""

    state: ObservedState
    suspicious: bool = False

    @property
    def price(self) -> Decimal | None:
        return self.state.price

    @property
    def currency(self) -> str | None:
        return self.state.currency

    @property
    def in_stock(self) -> bool | None:
        return self.state.in_stock


@dataclass(frozen=True, slots=True)
class Change:
    """A new row seen against the product's past."""

    new: Observation
    #: The product's previous history row (None for its very first observation).
    previous: Observation | None = None
    #: The latest earlier row that had a price (often `previous`).
    last_priced: Observation | None = None
    #: The lowest earlier non-suspicious price in `new.currency` (None: no earlier price).
    lowest_before: Decimal | None = None

    @property
    def currency_changed(self) -> bool:
        """The new price is in another currency than the last known one."""
        new = self.new.state
        return (
            new.price is not None
            and self.last_priced is not None
            and self.last_priced.state.currency != new.currency
        )


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    threshold: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    state: dict[str, Any]
    reason: str


def minor_unit(currency: str | None) -> Decimal:
    """The smallest amount of `currency` (1 for JPY, 0.01 for USD, 0.001 for KWD)."""
    return Decimal(1).scaleb(-_EXPONENT.get(currency or "", 2))


def hysteresis(threshold: Decimal, currency: str | None) -> Decimal:
    """How far above a `below` threshold the price must go to re-arm the rule."""
    return max(threshold * HYSTERESIS_FRACTION, minor_unit(currency))


def evaluate(rule: Rule, change: Change, state: Mapping[str, Any]) -> Decision:
    """Decide whether `rule` fires on `change`; never mutates `state`."""
    decide = _KINDS.get(rule.kind)
    if decide is None:
        return Decision(Outcome.QUIET, dict(state), f"unknown rule kind {rule.kind!r}")
    decision = decide(rule, change, dict(state))
    if change.currency_changed and (rule.kind in PRICE_KINDS or decision.outcome is Outcome.FIRED):
        old = change.last_priced.currency if change.last_priced else None
        return replace(
            decision,
            outcome=Outcome.SUPPRESSED,
            reason=f"currency changed from {old} to {change.new.currency}: "
            f"prices are not compared across currencies ({decision.reason})",
        )
    if change.new.suspicious and decision.outcome is Outcome.FIRED:
        return replace(
            decision,
            outcome=Outcome.SUPPRESSED,
            reason=f"implausible price change, not alerted ({decision.reason})",
        )
    return decision


def _money(amount: Decimal | None, currency: str | None) -> str:
    return "no price" if amount is None else f"{amount} {currency or ''}".strip()


#: A price rule's own decision, once it has a threshold and the change has a price:
#: (threshold, the new price, its currency, the price as text, state) -> Decision.
_OnPrice = Callable[[Decimal, Decimal, str | None, str, dict[str, Any]], Decision]
_Kind = Callable[[Rule, Change, dict[str, Any]], Decision]


def _threshold_rule(
    start: Callable[[Decimal, dict[str, Any]], None],
) -> Callable[[_OnPrice], _Kind]:
    """A rule kind that compares prices with its threshold: quiet without a threshold;
    `start` sets its state keys on the first change it sees (priced or not); quiet on a
    change without a price; else the decorated function decides."""

    def kind(decide: _OnPrice) -> _Kind:
        def evaluate_kind(rule: Rule, change: Change, state: dict[str, Any]) -> Decision:
            threshold, new = rule.threshold, change.new
            if threshold is None:
                return Decision(Outcome.QUIET, state, "no threshold")
            start(threshold, state)
            amount = new.price
            if amount is None:
                return Decision(Outcome.QUIET, state, "no price")
            return decide(threshold, amount, new.currency, _money(amount, new.currency), state)

        return evaluate_kind

    return kind


def _start_armed(threshold: Decimal, state: dict[str, Any]) -> None:
    if "armed" not in state:
        created = state.get("created_price")
        state["armed"] = created is None or Decimal(created) > threshold


@_threshold_rule(_start_armed)
def _below(
    threshold: Decimal, amount: Decimal, currency: str | None, price: str, state: dict[str, Any]
) -> Decision:
    if amount <= threshold:
        if state["armed"]:
            state["armed"] = False
            return Decision(Outcome.FIRED, state, f"price {price} is at or below {threshold}")
        return Decision(Outcome.QUIET, state, f"price {price} is still at or below {threshold}")
    if amount >= threshold + hysteresis(threshold, currency):
        state["armed"] = True
    return Decision(Outcome.QUIET, state, f"price {price} is above {threshold}")


def _start_reference(percent: Decimal, state: dict[str, Any]) -> None:
    if "reference" not in state:
        state["reference"] = state.get("created_price")
        state["reference_currency"] = state.get("created_currency")


@_threshold_rule(_start_reference)
def _drop_percent(
    percent: Decimal, amount: Decimal, currency: str | None, price: str, state: dict[str, Any]
) -> Decision:
    reference = state["reference"]
    if reference is None or state["reference_currency"] != currency:
        state["reference"], state["reference_currency"] = str(amount), currency
        return Decision(Outcome.QUIET, state, f"reference set to {price}")
    ref = Decimal(reference)
    if amount >= ref:
        if amount > ref:
            state["reference"] = str(amount)
        return Decision(Outcome.QUIET, state, f"price {price} is not below the reference")
    drop = (ref - amount) / ref * 100
    if drop >= percent:
        state["reference"] = str(amount)
        return Decision(
            Outcome.FIRED,
            state,
            f"price {price} is {drop.quantize(Decimal('0.1'))} % below {_money(ref, currency)}",
        )
    return Decision(Outcome.QUIET, state, f"price {price} dropped less than {percent} %")


def _change(rule: Rule, change: Change, state: dict[str, Any]) -> Decision:
    # The states read once (each `Observation.price` is a call; this runs on every change)
    new = change.new.state
    last = None if change.last_priced is None else change.last_priced.state
    if new.price is None or last is None or last.price is None:
        return Decision(Outcome.QUIET, state, "no price to compare")
    if (last.price, last.currency) == (new.price, new.currency):
        return Decision(Outcome.QUIET, state, "price unchanged")
    return Decision(
        Outcome.FIRED,
        state,
        f"price changed from {_money(last.price, last.currency)} to "
        f"{_money(new.price, new.currency)}",
    )


def _back_in_stock(rule: Rule, change: Change, state: dict[str, Any]) -> Decision:
    previous, new = change.previous, change.new
    if previous is not None and previous.in_stock is False and new.in_stock is True:
        was, now = previous.state.availability, new.state.availability
        return Decision(Outcome.FIRED, state, f"back in stock ({was} → {now})")
    return Decision(Outcome.QUIET, state, "no out-of-stock to in-stock transition")


def _lowest_ever(rule: Rule, change: Change, state: dict[str, Any]) -> Decision:
    new, lowest = change.new, change.lowest_before
    if new.price is None or lowest is None:
        return Decision(Outcome.QUIET, state, "no earlier price to compare")
    price = _money(new.price, new.currency)
    if new.price < lowest:
        return Decision(Outcome.FIRED, state, f"price {price} is the lowest ever (was {lowest})")
    return Decision(Outcome.QUIET, state, f"price {price} is not below the lowest {lowest}")


_KINDS: Final[dict[str, _Kind]] = {
    "below": _below,
    "drop_percent": _drop_percent,
    "change": _change,
    "back_in_stock": _back_in_stock,
    "lowest_ever": _lowest_ever,
}
