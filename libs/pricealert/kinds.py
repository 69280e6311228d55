"""Every closed set of names PriceAlert stores or accepts, defined once.

Each set is a `StrEnum`: its members are the strings themselves (`RuleKind.BELOW ==
"below"`), so rows, payloads and JSON carry plain text while code names the values.
The tables' CHECK constraints (`pricealert.models`), the API schemas (an `enum` in
OpenAPI) and the SQL that filters on them (`CAPPED_STATUSES`) are all built from here;
a new kind is added in this module and the tests then name every place that must
handle it (an evaluator, a message, API docs, a sender).

The availability names are `pricealert.availability.Availability` (schema.org's).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# The docstrings of the enums the API uses are their descriptions in OpenAPI: written for
# the API's users.


class RuleKind(StrEnum):
    """What an alert fires on: a price at or under a threshold, a drop by a percentage, any
    change, back in stock, a new lowest price."""

    # Each is decided by services/evaluator/rules.py.

    BELOW = "below"
    DROP_PERCENT = "drop_percent"
    CHANGE = "change"
    BACK_IN_STOCK = "back_in_stock"
    LOWEST_EVER = "lowest_ever"


class ChannelKind(StrEnum):
    """Where a notification is delivered: an email address, a phone (SMS), a Slack incoming
    webhook, or your own webhook endpoint."""

    # Each is sent by a module of services/notifier/channels.

    EMAIL = "email"
    SMS = "sms"
    SLACK = "slack"
    WEBHOOK = "webhook"


class ChannelStatus(StrEnum):
    """A channel's state: waiting for its code to be entered, active, or disabled."""

    PENDING_VERIFICATION = "pending_verification"
    ACTIVE = "active"
    DISABLED = "disabled"


#: Channel kinds whose target must prove it wants our messages (a code sent to it) before
#: anything else is sent there; webhooks and Slack are the user's own endpoints.
VERIFIED_CHANNEL_KINDS: Final = (ChannelKind.EMAIL, ChannelKind.SMS)


class ProductStatus(StrEnum):
    """`active`: checked on schedule; `failing`: the last checks failed, retried with
    back-off; `paused`: no longer checked."""

    ACTIVE = "active"
    FAILING = "failing"
    PAUSED = "paused"


class NotificationStatus(StrEnum):
    """What became of a notification: `pending` (to be sent, or retried), `sent`, `failed`
    (given up), `suppressed` (not sent: e.g. the currency changed), `cooldown` (within the
    alert's cooldown), `capped` (over a daily cap), `held` (the channel's target is not
    verified yet), `expired` (held for more than a day)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    COOLDOWN = "cooldown"
    CAPPED = "capped"
    HELD = "held"
    EXPIRED = "expired"


#: Notifications that count against a user's daily caps (they were, or will be, sent).
CAPPED_STATUSES: Final = (NotificationStatus.PENDING, NotificationStatus.SENT)


class TokenPurpose(StrEnum):
    """What a one-time token (a code or link sent to the user) proves."""

    EMAIL_VERIFICATION = "email_verification"
    CHANNEL_VERIFICATION = "channel_verification"
    KEY_RECOVERY = "key_recovery"
    SIGN_IN = "sign_in"


class TokenSendStatus(StrEnum):
    """Whether the message carrying a one-time token went out."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class ApiKeyKind(StrEnum):
    """`api`: a key you made (or got at sign-up or recovery); `session`: one browser's
    sign-in, expiring on its own and revoked at sign-out."""

    API = "api"
    SESSION = "session"


class CheckResult(StrEnum):
    """What one product check came to (`product.last_result`, `pricealert_scrapes_total`)."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NOT_MODIFIED = "not_modified"
    BLOCKED = "blocked"
    NO_PRICE = "no_price"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    TOO_LARGE = "too_large"
    ERROR = "error"
    #: An implausible change not seen again on a second fetch (nothing recorded).
    UNCONFIRMED = "unconfirmed"
    #: Not a check's own outcome: another check took the lease over and records its own.
    LEASE_LOST = "lease_lost"
    #: Not checked: the shop asked for a pause (no failure, not in the success rate).
    DEFERRED = "deferred"
    #: `last_result` of a product nobody watches any more (paused until someone does).
    UNWATCHED = "unwatched"


class ExtractionMethod(StrEnum):
    """Where a page's price was read: your selector, JSON-LD, microdata, RDFa, OpenGraph
    meta tags, or nowhere (`none`)."""

    SELECTOR = "selector"
    JSONLD = "jsonld"
    MICRODATA = "microdata"
    RDFA = "rdfa"
    OPENGRAPH = "opengraph"
    NONE = "none"


class Locale(StrEnum):
    """The languages a user may pick for the web UI and the messages sent to them."""

    EN = "en"
    JA = "ja"


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """`column IN ('a', 'b')`: SQL over fixed names (a CHECK constraint, a filter)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"
