"""A product's availability, said exactly: the schema.org ItemAvailability name.

Extraction, the price history, the API and the evaluator all carry the
machine-readable value (`Availability`) and derive `in_stock` from it with one
table, `in_stock_of`. `in_stock` answers "can a buyer order it now and receive
it without waiting?":

| availability | in_stock |
| --- | --- |
| InStock, LimitedAvailability, InStoreOnly, OnlineOnly | true |
| OutOfStock, SoldOut, Discontinued, PreOrder, PreSale, BackOrder | false |
| none known (no machine-readable value and no stock selector) | null |

A pre-order or back-order can be placed but not received now, so a
`back_in_stock` alert (which follows `in_stock`) waits for the real thing.
"""

from __future__ import annotations

from enum import StrEnum


class Availability(StrEnum):
    """The schema.org ItemAvailability values PriceAlert records."""

    IN_STOCK = "InStock"
    LIMITED_AVAILABILITY = "LimitedAvailability"
    IN_STORE_ONLY = "InStoreOnly"
    ONLINE_ONLY = "OnlineOnly"
    OUT_OF_STOCK = "OutOfStock"
    SOLD_OUT = "SoldOut"
    DISCONTINUED = "Discontinued"
    PRE_ORDER = "PreOrder"
    PRE_SALE = "PreSale"
    BACK_ORDER = "BackOrder"


#: The values a buyer can order now and receive without waiting.
ORDERABLE_NOW = frozenset(
    {
        Availability.IN_STOCK,
        Availability.LIMITED_AVAILABILITY,
        Availability.IN_STORE_ONLY,
        Availability.ONLINE_ONLY,
    }
)


def in_stock_of(availability: Availability | None) -> bool | None:
    """Whether `availability` means orderable now (None when nothing is known)."""
    if availability is None:
        return None
    return availability in ORDERABLE_NOW
