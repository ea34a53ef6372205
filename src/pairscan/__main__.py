"""`python -m pairscan` runs the `pairs` CLI."""

from pairscan.cli import main

main()
