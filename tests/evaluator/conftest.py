"""Evaluator fixtures: `redis` and `sessionmaker` are the root conftest's (tests/conftest.py)."""
