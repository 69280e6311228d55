"""Moved to `pricealert_ops.devtools.receiver`; re-exported so existing imports keep working."""

from pricealert_ops.devtools.receiver import Received, Receiver, verify

__all__ = ["Received", "Receiver", "verify"]
