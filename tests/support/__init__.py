"""Reusable real servers and helpers for tests."""
