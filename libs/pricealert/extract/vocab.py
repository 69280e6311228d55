"""schema.org names as real pages write them: any case, any prefix, http or https.

Shops write `"@type": "product"`, `"Offers"`, `"Price"`, `itemprop="Price"`,
`http://schema.org/Product` and `schema:offers`. Structured data is read into
dicts once, then `canonical()` rewrites every type and property name this
package reads to its schema.org spelling (case-insensitively, prefix and
vocabulary URL removed), so the rules in `schema_org` compare plain names.
Names this package does not read are left as they are.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_TYPES = (
    "Product", "ProductGroup", "IndividualProduct", "SomeProducts", "ProductModel", "Vehicle",
    "Car", "Motorcycle", "Book", "Offer", "AggregateOffer", "OfferForPurchase", "Demand",
    "PriceSpecification", "UnitPriceSpecification", "CompoundPriceSpecification",
    "DeliveryChargeSpecification", "PaymentChargeSpecification", "ItemList", "OfferCatalog",
    "CollectionPage", "SearchResultsPage", "ListItem", "WebPage", "ItemPage",
    "ListPrice", "StrikethroughPrice", "SalePrice", "SRP", "MSRP", "MinimumAdvertisedPrice",
    "InvoicePrice",
)  # fmt: skip
_PROPERTIES = (
    "offers", "price", "priceCurrency", "lowPrice", "highPrice", "offerCount", "availability",
    "priceSpecification", "priceType", "priceComponent", "referenceQuantity", "url", "name",
    "sku", "mpn", "gtin", "gtin13", "gtin12", "gtin8", "gtin14", "productID", "productGroupID",
    "hasVariant", "isVariantOf", "inProductGroupWithID", "itemOffered", "itemListElement",
    "item", "mainEntity", "mainEntityOfPage", "validFrom", "validThrough", "minPrice",
    "maxPrice", "value", "currency",
)  # fmt: skip

TYPE_NAMES = {name.lower(): name for name in _TYPES}
PROPERTY_NAMES = {name.lower(): name for name in _PROPERTIES}


def bare(name: str) -> str:
    """`schema:price`, `http://schema.org/price`, `https://schema.org/Price/` → the last part."""
    return name.strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].rsplit("#", 1)[-1]


@lru_cache(maxsize=4096)
def type_name(value: str) -> str:
    """A type name in its schema.org spelling (unknown types as written, bare)."""
    name = bare(value)
    return TYPE_NAMES.get(name.lower(), name)


@lru_cache(maxsize=4096)
def property_name(value: str) -> str:
    """A property name in its schema.org spelling (`@`-keywords and unknown names kept)."""
    if value.startswith("@"):
        return value
    name = bare(value)
    return PROPERTY_NAMES.get(name.lower(), value)


def canonical(value: Any) -> Any:
    """A copy of parsed structured data with type and property names in schema.org spelling."""
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if not isinstance(value, dict):
        return value
    node: dict[str, Any] = {}
    for key, child in value.items():
        if key == "@context":
            node[key] = child
            continue
        name = property_name(key) if isinstance(key, str) else key
        if name == "@type":
            child = (
                [type_name(t) if isinstance(t, str) else t for t in child]
                if isinstance(child, list)
                else type_name(child)
                if isinstance(child, str)
                else child
            )
        else:
            child = canonical(child)
        if name in node and isinstance(node[name], list):  # "offers" and "Offers" both
            node[name] = [*node[name], *(child if isinstance(child, list) else [child])]
        elif name in node:
            node[name] = [node[name], *(child if isinstance(child, list) else [child])]
        else:
            node[name] = child
    return node
