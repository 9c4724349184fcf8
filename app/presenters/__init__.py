"""Presentation that is not Reflex: figures and records as people read them (text in the account's locale, rows of
tables, plotly figures, CSV files). Plain Python, used by ``app/state`` and tested without Reflex; no rule lives
here (rules are in ``app/services``)."""
