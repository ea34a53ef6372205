"""Stage 7 (notify): one JSON POST with bounded retries. requests is imported here and in
`pairscan.notify` only.

Decides when to try again (429 after the service's own delay; 5xx, refused or dropped
connections and connect timeouts after a bounded exponential backoff), when to stop, and when
NOT to send again in this run: an answer that does not prove the message arrived but does not
rule it out either (no answer within the timeout after the request went out, a 200 that is not
the service's success answer). The URLs and the services' error bodies may hold the secrets
(webhook path, bot token), so every message and log line passes through `redact` here, where
answers become error text, and no requests exception is chained to the `NotifyError` raised.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import requests

from pairscan.errors import NotifyError
from pairscan.redaction import redact
from pairscan.text import plural

log = logging.getLogger("pairscan.notify")

# Deterministic doubling (1, 2, 4, 8, 8, ... s): one process posts to one webhook, so there
# is no herd to spread with jitter, and tests can assert the exact waits.
BASE_BACKOFF_S = 1.0
MAX_BACKOFF_S = 8.0
# A service that keeps answering "retry after 0" must not loop forever within the budget.
MAX_ATTEMPTS = 8
_MAX_DESCRIPTION = 200
_NOT_RESENT = (
    "not resent in this run: the service may have taken it, and the next run's resend "
    "would then be a duplicate"
)
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")
# A malformed URL is a configuration fault: retrying cannot help.
_BAD_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


@dataclass(frozen=True)
class Answer:
    """What one HTTP answer means for delivery.

    delivered: the service accepted the message (its documented success answer, nothing
    less). retry: a transient refusal (429, 5xx). unclear: an answer that does not say whether
    the message arrived (a 200 that is not the success answer): never resent in this run.
    description: the service's own words ("invalid_blocks", "Bad Request: chat not found"),
    unredacted and uncut (the poster masks secrets, then cuts).
    retry_after_s: the wait the service asked for (429), seconds; None = our backoff.
    """

    delivered: bool
    retry: bool = False
    description: str = ""
    retry_after_s: float | None = None
    unclear: bool = False


Judge = Callable[[requests.Response], Answer]


class _Outcome(NamedTuple):
    """One attempt: `failure` None when delivered; `kind` retry | permanent | unclear."""

    failure: str | None
    retry_after_s: float | None = None
    kind: str = "retry"


def body_description(response: requests.Response) -> str:
    """The first line of a plain-text error body, or the status reason for HTML and empty
    bodies (a proxy's error page says nothing the status does not). Not cut: the poster cuts
    it after masking secrets, so no cut can leave part of a secret behind."""
    text = response.text.strip()
    if not text or text.startswith("<"):
        return response.reason or "no description"
    return text.splitlines()[0]


def body_shape(response: requests.Response) -> str:
    """What an unexpected success-status body looks like: `empty body`, `an HTML page`, or the
    body quoted (`body 'ok\\n'`: a stray newline shows). Uncut and unredacted: see
    `body_description`."""
    text = response.text
    if not text:
        return "empty body"
    if text.lstrip().startswith("<"):
        return "an HTML page"
    return f"body {text!r}"


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds form); None if absent or odd."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None  # the HTTP-date form is not sent by Slack or Telegram


class Poster:
    """POSTs JSON for one channel, retrying transient faults within one shared budget.

    The budget (`retry_budget_s`) is the most this channel object waits over its whole life,
    which is one run: sleeps before retries plus the time spent in failed attempts (a hanging
    server costs `timeout_s` per attempt). A wait that would overrun it fails at once as
    transient, and once the channel has given up on a transient fault, later sends in the
    same run fail at once too instead of each waiting out the outage again.
    """

    def __init__(
        self,
        channel: str,
        *,
        timeout_s: float,
        retry_budget_s: float,
        secrets: Iterable[str],
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive (got {timeout_s})")
        if retry_budget_s < 0:
            raise ValueError(f"retry_budget_s must be >= 0 (got {retry_budget_s})")
        self.channel = channel
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self._secrets = tuple(s for s in secrets if s)
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._spent_s = 0.0
        self._gave_up: str | None = None

    @property
    def remaining_budget_s(self) -> float:
        return max(0.0, self.retry_budget_s - self._spent_s)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def post_json(
        self, url: str, payload: Mapping[str, Any], judge: Judge, where: str = ""
    ) -> None:
        """POST `payload` to `url` until `judge` says delivered; raise `NotifyError` otherwise.

        `where` ("part 2 of 3") is added to error messages.
        """
        suffix = f" ({where})" if where else ""
        if self._gave_up is not None:
            raise NotifyError(
                f"{self.channel}: not tried, gave up earlier in this run ({self._gave_up})"
                + suffix,
                transient=True,
            )
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            failure, retry_after_s, kind = self._attempt(url, payload, judge)
            if failure is None:
                if attempt > 1:
                    log.info("%s: delivered on attempt %d", self.channel, attempt)
                return
            if kind == "permanent":
                raise NotifyError(f"{self.channel}: {failure}{suffix}", transient=False)
            if kind == "unclear":
                # Sending again now could post it twice (a slow service still processing the
                # first request): the channel is done for this run, and the next run, an hour
                # later, resends it: at most one duplicate, never within the run.
                self._gave_up = failure
                log.warning("%s: %s; %s%s", self.channel, failure, _NOT_RESENT, suffix)
                raise NotifyError(
                    f"{self.channel}: {failure}; {_NOT_RESENT}{suffix}", transient=True
                )
            self._spent_s += self._clock() - started
            delay = retry_after_s if retry_after_s is not None else _backoff_s(attempt - 1)
            left = self.remaining_budget_s
            verdict = None
            if delay > left:
                verdict = (
                    f"asked to wait {delay:g} s, more than the {left:.3g} s left of the "
                    f"{self.retry_budget_s:g} s retry budget"
                    if retry_after_s is not None
                    else f"gave up after {plural(attempt, 'attempt')}, "
                    f"retry budget {self.retry_budget_s:g} s spent"
                )
            elif attempt >= MAX_ATTEMPTS:
                verdict = f"gave up after {attempt} attempts"
            if verdict is not None:
                self._gave_up = failure
                raise NotifyError(f"{self.channel}: {failure}; {verdict}{suffix}", transient=True)
            log.warning(
                "%s: %s; retry %d in %.1f s%s", self.channel, failure, attempt, delay, suffix
            )
            self._sleep(delay)
            self._spent_s += delay

    def _attempt(self, url: str, payload: Mapping[str, Any], judge: Judge) -> _Outcome:
        """One POST, its failure (if any) already masked and cut."""
        try:
            response = self._session.post(url, json=payload, timeout=self.timeout_s)
        except requests.ConnectTimeout as exc:
            # Nothing was sent: as safe to retry as a refused connection.
            log.debug("%s: %s", self.channel, self.redact(repr(exc)))
            return _Outcome(f"connection failed (no connection within {self.timeout_s:g} s)")
        except requests.Timeout as exc:
            # The request went out and no answer came in time: it may have been accepted.
            log.debug("%s: %s", self.channel, self.redact(repr(exc)))
            return _Outcome(f"no answer within {self.timeout_s:g} s of sending", kind="unclear")
        except _BAD_URL as exc:
            failure = f"bad URL ({type(exc).__name__}; check the configured address)"
            return _Outcome(failure, kind="permanent")
        except requests.RequestException as exc:
            log.debug("%s: %s", self.channel, self.redact(repr(exc)))
            return _Outcome(f"connection failed ({_network_reason(exc)})")
        with response:
            answer = judge(response)
        if answer.delivered:
            return _Outcome(None)
        # Masked before the cut: a cut through a secret must not leave its first characters.
        description = redact(answer.description, self._secrets, max_chars=_MAX_DESCRIPTION)
        failure = self.redact(f"HTTP {response.status_code} {description}".rstrip())
        kind = "unclear" if answer.unclear else "retry" if answer.retry else "permanent"
        return _Outcome(failure, answer.retry_after_s, kind)


def _backoff_s(retry_index: int) -> float:
    return float(min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2.0**retry_index))


def _network_reason(exc: requests.RequestException) -> str:
    """The OS error inside requests' long message ("[Errno 111] Connection refused"), else
    the exception's type; never the message itself, which holds the URL."""
    found = _ERRNO.search(str(exc))
    if found:
        return found.group(0).strip()
    return type(exc).__name__
