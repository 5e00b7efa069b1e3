"""Ask the decision API about the images of one machine's Docker calls: batched, cached, bounded.

- Every call to the server has a time bound (``timeout``, 5 s by default): dockerd waits for
  the plugin, and a plugin that hangs stalls every docker command of the machine.
- Concurrent questions are put into one request: ``docker compose up`` of 30 services sends
  30 pulls at once; the first caller waits ``batch_window`` for others to join, and while a
  request is on its way, what arrives waits for it and then goes in the next one.
- Answers are kept ``cache_seconds`` per image. An answer that carries a newer policy version
  of an organization drops what was kept under an older one, so a policy change is seen by
  the next call that reaches the server, and by every call after ``cache_seconds`` at most.
- The server unreachable, the token refused, an error answer: every image is denied with a
  message that says why and names the server (fail closed). Failures are not cached.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("imageaccess.authz")

DECISIONS_PATH = "/api/v1/decisions"
MAX_IMAGES_PER_CALL = 100
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# Past this many kept answers, expired ones are dropped: a long-lived plugin sees many images.
MAX_CACHED = 10_000
_LOAD_KEY = "\x00docker load"  # the cache key of the load decision (no image looks like it)


@dataclass(frozen=True)
class Verdict:
    """The answer for one image: allowed or not, and the message a denial shows."""

    allowed: bool
    message: str = ""
    org: str | None = None
    policy_version: int | None = None


@dataclass
class _Round:
    """Images asked in one request to the server, and its answers once it returned."""

    images: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    verdicts: dict[str, Verdict] = field(default_factory=dict)


class ServerProblem(Exception):
    """The server gave no decision: the message says what happened, naming the server."""


def _printable(text: str, limit: int = 300) -> str:
    text = text[:limit]
    return text if text.isprintable() else json.dumps(text)[1:-1]


class DaemonDecisions:
    """The decisions of one machine's plugin: one token, optional organizations, one host."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        orgs: Sequence[str] = (),
        host: str = "",
        timeout: float = 5.0,
        cache_seconds: float = 10.0,
        batch_window: float = 0.002,
        user_agent: str = "imageaccess-authz",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid server URL {url!r}: expected http(s)://HOST[:PORT]")
        self.server = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")
        )
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._path = parts.path.rstrip("/") + DECISIONS_PATH
        self._token = token
        self._orgs = list(orgs)
        self._host = host
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.batch_window = batch_window
        self._user_agent = user_agent
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Verdict, float]] = {}
        self._versions: dict[str, int] = {}
        self._open: _Round | None = None
        self._sending = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []
        self.requests_made = 0

    # -- the public question -------------------------------------------------------------------

    def decide(self, images: Sequence[str]) -> dict[str, Verdict]:
        """A verdict for each distinct image in ``images``."""
        wanted = list(dict.fromkeys(images))
        now = self._clock()
        verdicts: dict[str, Verdict] = {}
        with self._lock:
            for image in wanted:
                kept = self._cache.get(image)
                if kept is not None and kept[1] > now:
                    verdicts[image] = kept[0]
        missing = [image for image in wanted if image not in verdicts]
        if missing:
            verdicts.update(self._ask_in_round(missing))
        return verdicts

    def decide_load(self) -> Verdict:
        """May this machine's user load images from files (``docker load``/``import``)?"""
        now = self._clock()
        with self._lock:
            kept = self._cache.get(_LOAD_KEY)
            if kept is not None and kept[1] > now:
                return kept[0]
        try:
            data = self._request({"action": "load"})
        except ServerProblem as exc:
            log.warning("denying docker load: %s", exc)
            return self._failure(str(exc))
        answer = data.get("image_load")
        if not isinstance(answer, dict):
            return self._failure(f"{self.server} answered without image_load")
        return self._remember([_LOAD_KEY], [answer])[_LOAD_KEY]

    # -- batching ------------------------------------------------------------------------------

    def _ask_in_round(self, images: list[str]) -> dict[str, Verdict]:
        # One request in flight at a time: what arrives meanwhile joins the next one, so a
        # burst of pulls costs a request or two, whatever its size.
        with self._lock:
            leader = self._open is None
            if leader:
                self._open = _Round()
            current = self._open
            assert current is not None
            current.images.extend(i for i in images if i not in current.images)
        if leader:
            if self.batch_window > 0:
                time.sleep(self.batch_window)  # let concurrent calls join this request
            with self._sending:
                with self._lock:
                    self._open = None
                current.verdicts = self._ask_server(current.images)
            current.done.set()
        elif not current.done.wait(self.timeout * 2 + self.batch_window + 1):
            return {
                image: self._failure(f"no answer within {self.timeout:g} s") for image in images
            }
        return {image: current.verdicts[image] for image in images}

    def _ask_server(self, images: list[str]) -> dict[str, Verdict]:
        verdicts: dict[str, Verdict] = {}
        for start in range(0, len(images), MAX_IMAGES_PER_CALL):
            chunk = images[start : start + MAX_IMAGES_PER_CALL]
            try:
                answers = self._post(chunk)
            except ServerProblem as exc:
                log.warning("denying %s: %s", ", ".join(chunk), exc)
                verdicts.update({image: self._failure(str(exc)) for image in chunk})
                continue
            verdicts.update(self._remember(chunk, answers))
        return verdicts

    def _failure(self, what: str) -> Verdict:
        return Verdict(False, f"image access could not be checked: {what}")

    def _remember(self, images: list[str], answers: list[dict[str, Any]]) -> dict[str, Verdict]:
        verdicts = {image: _verdict(answer) for image, answer in zip(images, answers, strict=True)}
        expires = self._clock() + self.cache_seconds
        with self._lock:
            newer = {
                v.org: v.policy_version
                for v in verdicts.values()
                if v.org
                and v.policy_version is not None
                and v.policy_version > self._versions.get(v.org, -1)
            }
            if newer:
                self._versions.update(newer)
                self._cache = {
                    image: kept
                    for image, kept in self._cache.items()
                    if kept[0].org not in newer
                    or (kept[0].policy_version or 0) >= newer[kept[0].org]
                }
            if self.cache_seconds > 0:
                if len(self._cache) > MAX_CACHED:
                    now = self._clock()
                    self._cache = {k: kept for k, kept in self._cache.items() if kept[1] > now}
                for image, verdict in verdicts.items():
                    self._cache[image] = (verdict, expires)
        return verdicts

    # -- HTTP ------------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._connections:
                return self._connections.pop()
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._netloc, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._netloc, timeout=self.timeout)

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._connections) < 8:
                self._connections.append(connection)
                return
        connection.close()

    def _post(self, images: list[str]) -> list[dict[str, Any]]:
        data = self._request({"images": images})
        decisions = data.get("decisions")
        if (
            not isinstance(decisions, list)
            or len(decisions) != len(images)
            or not all(isinstance(d, dict) for d in decisions)
        ):
            raise ServerProblem(f"{self.server} answered without {len(images)} decisions")
        return decisions

    def _request(self, question: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {**question, "enforcer": "daemon"}
        if self._orgs:
            body["orgs"] = self._orgs
        if self._host:
            body["host"] = self._host
        payload = json.dumps(body).encode()
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        # A kept-alive connection the server closed meanwhile fails at once: one fresh retry.
        for attempt in (1, 2):
            connection = self._connection()
            try:
                self.requests_made += 1
                connection.request("POST", self._path, body=payload, headers=headers)
                response = connection.getresponse()
                answer = response.read(MAX_RESPONSE_BYTES + 1)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                connection.close()
                if attempt == 1:
                    continue
                raise ServerProblem(
                    f"cannot reach {self.server}: {_network_reason(exc, self.timeout)}"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise ServerProblem(
                    f"cannot reach {self.server}: {_network_reason(exc, self.timeout)}"
                ) from None
            if response.will_close:
                connection.close()
            else:
                self._release(connection)
            return self._answer(response.status, answer)
        raise AssertionError("unreachable")

    def _answer(self, status: int, answer: bytes) -> dict[str, Any]:
        if status != 200:
            message = _error_message(answer) or http.client.responses.get(status, "")
            if status == 401:
                raise ServerProblem(
                    f"{self.server} refused the token ({message}): "
                    "check IMAGEACCESS_TOKEN on this machine"
                )
            raise ServerProblem(f"{self.server} answered HTTP {status}: {message}")
        try:
            data = json.loads(answer)
        except (ValueError, UnicodeDecodeError):
            raise ServerProblem(f"{self.server} answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise ServerProblem(f"{self.server} answered something that is not a JSON object")
        return data

    def close(self) -> None:
        """Close the kept-alive connections to the server."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()


def _verdict(answer: dict[str, Any]) -> Verdict:
    org = answer.get("org") if isinstance(answer.get("org"), str) else None
    version = answer.get("policy_version")
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    if isinstance(answer.get("error"), str):
        return Verdict(False, _printable(answer["error"]))
    if answer.get("allowed") is True:
        return Verdict(True, "", org, version)
    if answer.get("allowed") is False:
        reason = answer.get("reason")
        return Verdict(
            False, _printable(reason if isinstance(reason, str) else "denied"), org, version
        )
    return Verdict(False, "image access could not be checked: a malformed decision")


def _error_message(answer: bytes) -> str:
    try:
        data = json.loads(answer)
    except (ValueError, UnicodeDecodeError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return _printable(message) if isinstance(message, str) else ""


def _network_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message})"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
