"""Tests of the guarded outbound HTTP client."""
