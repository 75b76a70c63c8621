#!/usr/bin/env bash
# The test command: set up a fresh machine (scripts/setup.sh) and run the test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k mfcc` or `scripts/test.sh -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
VENV=${KWS_VENV:-.venv}
"$VENV/bin/python" -m ruff check kws tests scripts
exec "$VENV/bin/python" -m pytest "$@"
