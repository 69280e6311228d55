"""Repositories: all SQL of PriceAlert lives here.

Repositories add, flush and query; they never commit (the session scope does).
Each method takes the owner (`user_id`) where the object belongs to a user, so
a query can never return another user's object.
"""
