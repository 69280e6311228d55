"""Moved to `pricealert.devtools.receiver`; re-exported so existing imports keep working."""

from pricealert.devtools.receiver import Received, Receiver, verify

__all__ = ["Received", "Receiver", "verify"]
