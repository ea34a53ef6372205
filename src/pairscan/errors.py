"""Exception types a user can cause or meet; the CLI turns each into one line and an exit code.

Nothing here imports a third-party library: every stage may raise these.
"""

from __future__ import annotations

# Exit codes, one table for the CLI, README and supervisors (systemd, cron wrappers):
EXIT_OK = 0  # the run did its work
EXIT_PARTIAL = 1  # the run decided and committed; some symbols or channels failed (retried)
EXIT_USAGE = 2  # bad configuration or usage; nothing was written
EXIT_LOCKED = 3  # another scan holds the data directory's lock; this run did nothing
EXIT_FAILED = 4  # the run failed and decided nothing (exchange unreachable, unexpected error)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_PARTIAL: "partial: the run decided and committed, but some symbols or channels failed "
    "and will be retried",
    EXIT_USAGE: "bad config or usage (one line naming the key or option and the fix); nothing "
    "written",
    EXIT_LOCKED: "locked: another scan holds the data directory; this run did nothing",
    EXIT_FAILED: "failed: the run decided nothing (exchange unreachable for every symbol, a "
    "state or cache fault, an unexpected error)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C, SIGINT)",
}


class PairscanError(Exception):
    """Base class of every error pairscan reports to the user without a traceback. Raised out
    of a command it means the run failed (EXIT_FAILED) unless a subclass says otherwise."""

    exit_code = EXIT_FAILED


class ConfigError(PairscanError):
    """Bad configuration or usage: names the key, the bad value and what is allowed."""

    exit_code = EXIT_USAGE


class ExchangeError(PairscanError):
    """An exchange call failed for good (permanent fault, or retries exhausted).

    The message names the exchange, the symbol and the endpoint, never a secret.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class UnknownSymbolError(ExchangeError):
    """The exchange does not list a symbol the user asked for: a usage error, nothing fetched."""

    exit_code = EXIT_USAGE


class BadResponseError(ExchangeError):
    """The exchange answered 200 with a body that is not valid market data."""


class CacheError(PairscanError):
    """A cache file or database is unreadable, foreign or corrupt; says how to rebuild it."""


class NotifyError(PairscanError):
    """A notification channel failed; the ticket stays queued.

    The message names the channel, the HTTP status and the service's own description, never
    a token, chat id or webhook URL. `transient` is True when the next run may well succeed
    (network, timeout, 5xx, 429 beyond the retry budget) and False when someone must act
    first (a rejected message, a revoked webhook, a wrong token or chat id).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StateError(PairscanError):
    """The positions database is unreadable, foreign, newer, corrupt or locked; says what to do
    (upgrade, wait, or which file to move aside)."""


class LockedError(PairscanError):
    """Another run holds the data directory's scan lock: this run did nothing."""

    exit_code = EXIT_LOCKED
