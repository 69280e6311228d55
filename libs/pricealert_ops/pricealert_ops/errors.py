"""What the operations modules share of PriceAlert's error hierarchy (`pricealert.errors`)."""

from __future__ import annotations

from pricealert.errors import NamedError


class Refusal(NamedError):
    """An operation refused or failed, with a stable `code` named where it is raised (422)."""

    status = 422
