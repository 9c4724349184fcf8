"""Reusable UI pieces: the page-layout decorator, navigation, cards and tables."""
