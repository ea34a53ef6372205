"""Stage 1 (fetch): bounded exponential backoff (and `redact`, re-exported from
`pairscan.redaction`).

The only place that decides how long to wait between attempts. No ccxt import: the ccxt
client classifies its exceptions and hands the decision to `RetryPolicy`.
"""

from __future__ import annotations

import random
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
