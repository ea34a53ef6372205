"""pairscan: find and trade mean-reverting pairs of crypto assets from cron."""

__version__ = "0.1.0"
