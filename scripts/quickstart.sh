#!/usr/bin/env bash
# The whole toolkit in one command, on the built-in default (synthetic keywords):
# set up, synthesize a corpus, train a GRU, evaluate it (clips and a noisy stream), export a
# verified INT8 bundle, stream a demo recording through it, and print a summary.
#
#   scripts/quickstart.sh [--out DIR] [--quick] [--real PATH]
#
# --out    where everything goes (default: exp/quickstart)
# --quick  a reduced run (fewer clips and epochs) to check that everything works (CI)
# --real   a folder like ../shared/data: also stream real Speech Commands recordings
#          (default: ../shared/data when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=exp/quickstart
QUICK=0
REAL=""
[ -d ../shared/data/speech_commands_mini ] && REAL=../shared/data
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --real) REAL=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "quickstart: unknown argument $1" >&2; exit 2 ;;
    esac
done
START=$(date +%s)
banner() { echo; echo "### [$(( $(date +%s) - START )) s] $*"; }

banner "1/6 setting up the environment (scripts/setup.sh)"
scripts/setup.sh
VENV=${KWS_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
PY="$VENV/bin/python"

if [ "$QUICK" = 1 ]; then
    export PER_WORD=40 MINUTES=2 CAL_MINUTES=2
    TRAIN=(--set train.epochs=2)
else
    export PER_WORD=${PER_WORD:-250} MINUTES=${MINUTES:-20} CAL_MINUTES=${CAL_MINUTES:-60}
    TRAIN=()
fi
WORDS=yes,no,up,down,left,right,on,off,stop,go

banner "2-4/6 synthetic recipe: synthesize, train, calibrate, export, evaluate (recipes/synthetic/run.sh)"
recipes/synthetic/run.sh --out "$OUT" --words "$WORDS" "${TRAIN[@]}"

banner "5/6 streaming a demo recording (synthesized sentences in noise) through kws stream"
kws synth --words "$WORDS" --sentences 12 --seed 7 --out "$OUT/demo.wav"
kws stream "$OUT/bundle" "$OUT/demo.wav" --json --plot "$OUT/demo.png" > "$OUT/demo.jsonl"
"$PY" scripts/quickstart_report.py detections "$OUT/demo.csv" "$OUT/demo.jsonl"
if [ -n "$REAL" ] && [ -d "$REAL/speech_commands_mini" ]; then
    banner "5/6 (real speech) Speech Commands test recordings through the same bundle"
    kws make-stream "$REAL/speech_commands_mini" --split test --minutes 2 --snr 20 \
        --filler-prob 0 --seed 1 --out "$OUT/real.wav" > /dev/null
    kws stream "$OUT/bundle" "$OUT/real.wav" --json > "$OUT/real.jsonl"
    "$PY" scripts/quickstart_report.py detections "$OUT/real.csv" "$OUT/real.jsonl" | tail -n 1
    echo "(trained on synthetic voices only; recipes/speech_commands trains on real ones)"
fi

banner "6/6 summary"
"$PY" scripts/quickstart_report.py summary "$OUT" "$OUT/demo.jsonl"
cat <<MSG
bundle (what a device runs): $OUT/bundle
plots: $OUT/gru/curves.png, $OUT/bundle-eval/*_det.png, $OUT/demo.png
next:
  kws listen $OUT/bundle                      # live from the microphone
  kws stream $OUT/bundle some.wav --plot p.png
  recipes/speech_commands/run.sh --data ../shared/data/speech_commands_mini --out exp/sc
finished in $(( $(date +%s) - START )) s
MSG
