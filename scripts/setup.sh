#!/usr/bin/env bash
# Set up a fresh machine for kws: a virtual environment (.venv, or $KWS_VENV) holding the
# package in editable mode with its train, mic and dev extras. Needs only Python 3.11 + pip.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${KWS_VENV:-.venv}
EXTRAS=${KWS_EXTRAS:-train,mic,dev}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.kws-setup"
want="$(sha256sum pyproject.toml | cut -c1-16) $EXTRAS"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setup: installing kws[$EXTRAS] into $VENV (first time: torch and friends, a few minutes)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet --progress-bar off -e ".[$EXTRAS]"
echo "$want" > "$stamp"
echo "setup: done ($("$VENV/bin/python" -c 'import torch, onnxruntime; print("torch", torch.__version__, "onnxruntime", onnxruntime.__version__)'))"
