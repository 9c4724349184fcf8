"""Presentation that is not Reflex: figures and records as people read them (text in the account's locale, rows of
tables, colours, plotly figures, CSV files, editor fields). Plain Python, used by ``app/state`` and tested without a
browser or a state tree; no rule lives here (rules are in ``app/services``)."""
