"""Django's PostgreSQL backend with client-side time bounds and a circuit breaker."""
