"""The web's memory of counted page-load beacons: each token once, bounded, expiring."""

from __future__ import annotations

from services.web.rum import CountedTokens


def test_a_token_counts_once_until_it_expires() -> None:
    counted = CountedTokens()
    assert counted.first_use("a", expires_at=100.0, now=10.0)
    assert not counted.first_use("a", expires_at=100.0, now=50.0)
    assert counted.first_use("b", expires_at=100.0, now=50.0)
    # Past its expiry it is forgotten (the beacon itself is refused as stale by then).
    assert counted.first_use("a", expires_at=300.0, now=101.0)


def test_the_memory_is_bounded_oldest_forgotten_first() -> None:
    counted = CountedTokens(limit=3)
    for token in ("a", "b", "c", "d"):
        assert counted.first_use(token, expires_at=1_000.0, now=0.0)
    assert not counted.first_use("d", expires_at=1_000.0, now=0.0)
    assert not counted.first_use("c", expires_at=1_000.0, now=0.0)
    assert counted.first_use("a", expires_at=1_000.0, now=0.0)  # the oldest went first
