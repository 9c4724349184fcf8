"""Clients for the outside world (email, and later Stripe, Meta, Google, LLMs). They know nothing of our tables."""
