"""Moved to `pricealert_ops.devtools.shop`; re-exported so existing imports keep working."""

from pricealert_ops.devtools.shop import (
    Handler,
    Page,
    RecordedRequest,
    Shop,
    StaticResolver,
    running_shop,
)

__all__ = ["Handler", "Page", "RecordedRequest", "Shop", "StaticResolver", "running_shop"]
