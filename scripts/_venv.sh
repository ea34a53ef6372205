# Sourced by scripts/demo and scripts/test: create .venv once and install pairscan into it.
# PAIRSCAN_EXTRAS selects optional dependency groups (e.g. "dev").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
SPEC="."
if [ -n "${PAIRSCAN_EXTRAS:-}" ]; then SPEC=".[${PAIRSCAN_EXTRAS}]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$SPEC"
