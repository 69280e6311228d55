"""What an experiment recorded, as plain values: the only input of the verdict.

Every record comes from a witness outside the services: the shop's own price
schedule, the webhook receiver, PostgreSQL rows read after (and samples read
during) the run, and the API prober. Service logs are not evidence here.
Times are unix seconds (UTC); prices are `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class PriceChange:
    """The shop started showing `new` instead of `old` for one product at `at`."""

    product: int  # index in the shop (0..N-1)
    at: float
    old: Decimal
    new: Decimal


@dataclass(frozen=True)
class Delivery:
    """One webhook request the receiver got (retries of one notification share `webhook_id`)."""

    webhook_id: str
    at: float
    signature_valid: bool
    product: int | None  # the shop index of data.product.url; None when unknown
    old: Decimal | None
    new: Decimal | None


@dataclass(frozen=True)
class NotificationRow:
    """A `notification` row of the experiment's database, read after the run."""

    id: str
    product: int | None
    status: str
    attempts: int
    old: Decimal | None
    new: Decimal | None


@dataclass(frozen=True)
class HistoryRow:
    """A `price_history` row: a state a check recorded for a product."""

    product: int
    price: Decimal | None
    first_seen_at: float
    suspicious: bool


@dataclass(frozen=True)
class DueSample:
    """A product's schedule as PostgreSQL held it at `at` (sampled during the run)."""

    at: float
    product: int
    next_check_at: float
    last_checked_at: float | None
    status: str


@dataclass(frozen=True)
class Probe:
    """One API request of the prober: `status` is None when no answer came at all."""

    at: float
    endpoint: str  # healthz | read | readyz
    status: int | None
    seconds: float


@dataclass(frozen=True)
class Window:
    """A span of the run, e.g. PostgreSQL down (from stopping it until it accepts again)."""

    what: str
    start: float
    end: float

    def contains(self, at: float) -> bool:
        """Whether `at` falls inside the window."""
        return self.start <= at <= self.end


@dataclass(frozen=True)
class Bounds:
    """The stated tolerances the invariants are judged with."""

    settle_seconds: float  # how long after `due_by` an alert may still be on its way
    lease_seconds: float
    slack_seconds: float  # claim lag, restarts, a loaded machine
    availability_objective: Decimal  # percent, monitoring/slo.yaml api-availability
    success_objective: Decimal  # percent, monitoring/slo.yaml api-success


@dataclass
class Records:
    """Everything one run recorded."""

    started: float
    #: The end of the price moves: every change made before it owes its alerts, which
    #: have until `due_by + settle` to arrive (the run may end sooner once all have).
    due_by: float
    ended: float  # the end of the run, settling included
    bounds: Bounds
    changes: list[PriceChange] = field(default_factory=list)
    #: Every price the shop served for each product (its schedule), failures aside.
    served_prices: dict[int, set[Decimal]] = field(default_factory=dict)
    #: Prices that only fault pages (captcha, truncated bodies) ever carried.
    decoy_prices: set[Decimal] = field(default_factory=set)
    deliveries: list[Delivery] = field(default_factory=list)
    notifications: list[NotificationRow] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)
    samples: list[DueSample] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    #: Spans when PostgreSQL was surely down (stopped, not yet restarting): /readyz must say 503.
    database_down: list[Window] = field(default_factory=list)
    #: Spans the API is excused for: from asking PostgreSQL to stop until it accepts again,
    #: plus the stated recovery time of the API's connection pool.
    excused: list[Window] = field(default_factory=list)
    #: Spans a dependency the workers need (PostgreSQL, Redis) was away: checks due then
    #: could not happen, so their length is added to the lateness a check is allowed.
    outages: list[Window] = field(default_factory=list)
    #: What the fault injector did, for the report (e.g. "SIGKILL scraper-1 pid 4242").
    actions: list[str] = field(default_factory=list)
