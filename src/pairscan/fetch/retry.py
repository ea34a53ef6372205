"""Stage 1 (fetch): bounded exponential backoff, the cause of a network failure (and
`redact`, re-exported from `pairscan.redaction`).

The only place that decides how long to wait between attempts. No ccxt or requests import:
the ccxt client classifies its exceptions and hands the decision to `RetryPolicy`.
"""

from __future__ import annotations

import random
import re
import socket
from dataclasses import dataclass

from pairscan.config import ExchangeConfig
from pairscan.redaction import redact as redact  # re-exported: fetch's public name since stage 1


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient fault.

    max_retries: extra attempts after the first (0 = try once).
    base_delay_s / max_delay_s: the n-th retry waits about base * 2**n seconds, at most max.
    A `Retry-After` longer than `max_delay_s` is not waited for: the call fails at once,
    because an hourly cron run that sleeps for an exchange ban only collides with the next one.
    """

    max_retries: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    @classmethod
    def from_config(cls, config: ExchangeConfig) -> RetryPolicy:
        return cls(config.max_retries, config.retry_base_delay_s, config.retry_max_delay_s)

    def delay_s(self, retry_index: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry_index` (0-based).

        Jitter of +-25 % spreads out many cron jobs that hit the same 429 at the same minute.
        """
        jitter = 0.75 + 0.5 * rng.random()
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0**retry_index * jitter)
        return backoff if retry_after_s is None else max(backoff, retry_after_s)

    def retry_after_too_long(self, retry_after_s: float | None) -> bool:
        return retry_after_s is not None and retry_after_s > self.max_delay_s


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP `Retry-After` header (delta-seconds form); None if absent or odd."""
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None  # the HTTP-date form is not used by crypto exchanges
    return max(0.0, seconds)


# urllib3's timeout messages end with "(read timeout=2.0)" or "(connect timeout=2.0)".
_TIMEOUT = re.compile(r"\((read|connect) timeout=([0-9.]+)\)")
_MAX_CHAIN = 12


def network_cause(exc: BaseException) -> str | None:
    """What actually went wrong under a network exception, for the final error message.

    ccxt raises `NetworkError("binance GET <url>")` from requests' exception, which wraps
    urllib3's, which wraps the OS error; only the chain says whether the connection was
    refused, the name did not resolve or the exchange did not answer in time. Returns e.g.
    `connection refused: [Errno 111] Connection refused`, `DNS lookup failed: [Errno -2]
    Name or service not known`, `no answer within 2 s (read timeout)`; None when the chain
    names no such cause (an HTTP error status, say). Built from error numbers and fixed
    phrases, never from a message that could carry the URL and its query string.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < _MAX_CHAIN and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for link in chain:
        if isinstance(link, socket.gaierror):
            return f"DNS lookup failed: {_errno_text(link)}"
    for link in chain:
        if isinstance(link, ConnectionRefusedError):
            return f"connection refused: {_errno_text(link)}"
    for link in chain:
        found = _TIMEOUT.search(str(link))
        if found:
            return f"no answer within {float(found.group(2)):g} s ({found.group(1)} timeout)"
    for link in chain:
        if isinstance(link, TimeoutError):
            return "no answer in time (timeout)"
    for link in chain:
        if type(link).__name__ == "RemoteDisconnected":
            return "connection closed by the server without a response"
    for link in reversed(chain):
        if isinstance(link, OSError) and link.errno is not None:
            return f"connection failed: {_errno_text(link)}"
    return None


def _errno_text(error: OSError) -> str:
    if error.errno is None:
        return type(error).__name__
    return f"[Errno {error.errno}] {error.strerror or type(error).__name__}"
