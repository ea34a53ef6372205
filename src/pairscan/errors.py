"""Exception types a user can cause or meet; the CLI turns each into one line and an exit code.

Nothing here imports a third-party library: every stage may raise these.
"""

from __future__ import annotations


class PairscanError(Exception):
    """Base class of every error pairscan reports to the user without a traceback."""

    exit_code = 1


class ConfigError(PairscanError):
    """Bad configuration or usage: names the key, the bad value and what is allowed."""

    exit_code = 2


class ExchangeError(PairscanError):
    """An exchange call failed for good (permanent fault, or retries exhausted).

    The message names the exchange, the symbol and the endpoint, never a secret.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class UnknownSymbolError(ExchangeError):
    """The exchange does not list a symbol the user asked for: a usage error, nothing fetched."""

    exit_code = 2


class BadResponseError(ExchangeError):
    """The exchange answered 200 with a body that is not valid market data."""


class CacheError(PairscanError):
    """A cache file or database is unreadable, foreign or corrupt; says how to rebuild it."""


class NotifyError(PairscanError):
    """A notification channel failed; the ticket stays queued."""


class StateError(PairscanError):
    """The positions database is unreadable, foreign, newer, corrupt or locked; says what to do
    (upgrade, wait, or which file to move aside)."""
