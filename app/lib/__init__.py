"""Small helpers with no knowledge of PaidSignal's tables or frameworks, importable from every layer."""
