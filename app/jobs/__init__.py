"""Scheduled work: the runner (APScheduler + database lease) and one job per module, named verb_noun."""
