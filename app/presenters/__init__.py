"""Presentation without Reflex: the services' read models as the pages show them (texts, colours, rows), in plain
Python that tests call without a browser or a state tree."""
