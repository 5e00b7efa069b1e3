"""Django's PostgreSQL backend, with every wait on the server bounded in time.

libpq has no read timeout, and TCP keepalives and ``tcp_user_timeout`` only notice a dead
peer: a frozen server (a stopped process, a hung disk, a partition that still answers TCP)
would hold a request for ever, as Django's connection health check (``SELECT 1``) did when
the database hung. psycopg hands every wait on the socket to ``Connection.wait`` (and to
``_connect_gen`` while connecting), ticking every 100 ms; the connection class below checks a
deadline on each tick and gives the connection up when it passes.

A process that has seen the server fail stops asking it for a while (the breaker): one caller
per interval probes, the others fail at once, so an outage costs one timeout per interval
instead of one per request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

import psycopg
from django.db.backends.postgresql import base

logger = logging.getLogger(__name__)
RV = TypeVar("RV")

_bounds = threading.local()


class DatabaseTimeout(psycopg.errors.ConnectionTimeout):
    """The server did not answer within the bound; the connection was given up."""


class DatabaseUnavailable(psycopg.OperationalError):
    """The breaker is open: the server failed recently and this caller does not probe it."""


class _Settings:
    """Process-wide bounds; unbounded and without a breaker until ``configure`` is called
    (management commands, migrations and tests wait as Django does)."""

    timeout: float | None = None
    breaker_seconds: float = 5.0
    breaker_enabled = False


def configure(*, timeout: float | None, breaker_seconds: float) -> None:
    """Bound every wait on the server in this process (servers and workers call this once)."""
    _Settings.timeout = timeout
    _Settings.breaker_seconds = breaker_seconds
    _Settings.breaker_enabled = True


def unconfigure() -> None:
    """Wait without bounds and without a breaker again (tests that loaded a server module)."""
    _Settings.timeout = None
    _Settings.breaker_enabled = False
    breaker.reset()


def current_timeout() -> float | None:
    return _Settings.timeout


class Breaker:
    """Keeps a process off a failing server: one probe per interval, the rest fail fast."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._failing = False

    @property
    def failing(self) -> bool:
        """The server failed and no probe has succeeded since."""
        return self._failing

    @property
    def is_open(self) -> bool:
        """Callers fail fast now (a probe goes through once the interval has passed)."""
        return self._failing and time.monotonic() < self._open_until

    @contextlib.contextmanager
    def probing(self) -> Iterator[None]:
        """Let this thread ask the server whatever the breaker says (readiness probes)."""
        _bounds.probing = True
        try:
            yield
        finally:
            _bounds.probing = False

    def before_call(self) -> None:
        """Raise ``DatabaseUnavailable`` unless this caller may use the server now."""
        if not self._failing or getattr(_bounds, "probing", False):
            return
        with self._lock:
            now = time.monotonic()
            if now < self._open_until:
                raise DatabaseUnavailable(
                    f"the database is unavailable: retrying in {self._open_until - now:.1f} s"
                )
            # Half open: this caller probes; the others keep failing fast meanwhile.
            self._open_until = now + _Settings.breaker_seconds

    def failed(self, exc: BaseException) -> None:
        if not _Settings.breaker_enabled:
            return
        with self._lock:
            if not self._failing:
                logger.warning(
                    "database unavailable (%s); failing fast for %.0f s between probes",
                    exc,
                    _Settings.breaker_seconds,
                )
            self._failing = True
            self._open_until = time.monotonic() + _Settings.breaker_seconds

    def succeeded(self) -> None:
        if self._failing:
            with self._lock:
                if self._failing:
                    logger.warning("database available again")
                self._failing = False
                self._open_until = 0.0

    def reset(self) -> None:
        with self._lock:
            self._failing = False
            self._open_until = 0.0


breaker = Breaker()


def _deadline_passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _bounded_gen(gen: Generator[Any, Any, RV], deadline: float | None) -> Generator[Any, Any, RV]:
    """Forward ``gen``'s waits, failing once a tick (no readiness) comes after ``deadline``."""
    try:
        state = next(gen)
        while True:
            ready = yield state
            if not ready and _deadline_passed(deadline):
                gen.close()
                raise DatabaseTimeout("the database did not answer in time")
            state = gen.send(ready)
    except StopIteration as stop:
        return stop.value


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits on the server end at the current deadline."""

    def wait(self, gen: Any, interval: float = 0.1) -> Any:
        timeout = current_timeout()
        if timeout is None:
            return super().wait(gen, interval)
        try:
            return super().wait(_bounded_gen(gen, time.monotonic() + timeout), interval)
        except DatabaseTimeout as exc:
            # The reply may still come, out of step with the next query: give the session up.
            self.pgconn.finish()
            breaker.failed(exc)
            raise DatabaseTimeout(f"the database did not answer within {timeout:g} s") from None

    @classmethod
    def _connect_gen(cls, *args: Any, **kwargs: Any) -> Any:
        gen = super()._connect_gen(*args, **kwargs)
        timeout = current_timeout()
        if timeout is None:
            return gen
        return _bounded_gen(gen, time.monotonic() + timeout)


class _Psycopg:
    """psycopg as Django's backend sees it, connecting with ``BoundedConnection``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> BoundedConnection:
        return BoundedConnection.connect(*args, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    """PostgreSQL with bounded waits and a per-process breaker."""

    Database = _Psycopg()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        breaker.before_call()
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError as exc:
            breaker.failed(exc)
            raise
        breaker.succeeded()
        return connection

    def close_if_health_check_failed(self) -> None:
        if breaker.failing and self.connection is not None:
            self.close()  # no health check on a session from before the failure: see below
            return
        super().close_if_health_check_failed()

    def ensure_connection(self) -> None:
        if breaker.failing and self.connection is not None:
            # A session from before the failure: give it up, so that this caller either
            # fails fast or probes with a new connection (whose success closes the breaker).
            self.close()
        super().ensure_connection()
