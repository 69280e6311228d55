"""Alert rule validation that depends on the rule's kind and the product's currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pricealert.errors import InvalidInput
from pricealert.models import Product
from pricealert.money import AmountRefused, check_amount

#: A percentage is given to at most two decimals (12.5 %, 33.33 %).
PERCENT_PLACES = 2


def check_threshold(kind: str, threshold: Decimal | None, currency: str | None) -> Decimal | None:
    """The threshold a rule of `kind` needs on a product priced in `currency` (None: not
    known yet), or `InvalidInput` naming the rule it breaks."""
    if kind == "below":
        if threshold is None:
            raise InvalidInput(
                "a 'below' alert needs a threshold price", field="threshold", rule="missing"
            )
        try:
            return check_amount(threshold, currency)
        except AmountRefused as refused:
            raise InvalidInput(
                f"threshold {refused.reason}", field="threshold", rule=refused.rule
            ) from None
    if kind == "drop_percent":
        if threshold is None:
            raise InvalidInput(
                "a 'drop_percent' alert needs a threshold", field="threshold", rule="missing"
            )
        if not threshold.is_finite() or not Decimal(0) < threshold < Decimal(100):
            raise InvalidInput(
                "threshold must be a percentage between 0 and 100",
                field="threshold",
                rule="percentage",
            )
        exponent = threshold.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > PERCENT_PLACES:
            raise InvalidInput(
                f"threshold: at most {PERCENT_PLACES} digits after the point",
                field="threshold",
                rule="max_decimal_places",
            )
        return threshold
    if threshold is not None:
        raise InvalidInput(
            f"a '{kind}' alert takes no threshold", field="threshold", rule="not_allowed"
        )
    return None


def initial_state(product: Product) -> dict[str, Any]:
    """What the product looked like when the rule was made: the evaluator's starting point."""
    return {
        "created_price": str(product.price) if product.price is not None else None,
        "created_currency": product.currency,
        "created_in_stock": product.in_stock,
    }
