"""What an operator watches: Prometheus metrics, JSON log lines and the health endpoints of every process role."""
