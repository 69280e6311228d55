"""Alert rule validation that depends on the rule's kind."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pricealert.errors import InvalidInput
from pricealert.models import Product

MAX_THRESHOLD = Decimal("1e12")


def check_threshold(kind: str, threshold: Decimal | None) -> Decimal | None:
    """The threshold a rule of `kind` needs, or `InvalidInput` saying what is wrong."""
    if kind == "below":
        if threshold is None:
            raise InvalidInput("a 'below' alert needs a threshold price", field="threshold")
        if threshold <= 0 or threshold >= MAX_THRESHOLD:
            raise InvalidInput("threshold must be a positive price", field="threshold")
        return threshold
    if kind == "drop_percent":
        if threshold is None:
            raise InvalidInput("a 'drop_percent' alert needs a threshold", field="threshold")
        if not Decimal(0) < threshold < Decimal(100):
            raise InvalidInput(
                "threshold must be a percentage between 0 and 100", field="threshold"
            )
        return threshold
    if threshold is not None:
        raise InvalidInput(f"a '{kind}' alert takes no threshold", field="threshold")
    return None


def initial_state(product: Product) -> dict[str, Any]:
    """What the product looked like when the rule was made: the evaluator's starting point."""
    return {
        "created_price": str(product.price) if product.price is not None else None,
        "created_currency": product.currency,
        "created_in_stock": product.in_stock,
    }
