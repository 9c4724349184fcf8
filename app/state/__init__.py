"""Reflex state classes: hold UI state and call services. No rules live here."""
