#!/usr/bin/env bash
# The base encoder under every detector: MFCC -> causal GRU -> phoneme posteriors (CTC),
# trained on every kind of speech at hand; `train.init: encoder:base` starts keyword runs
# from the copy that ships in kws/encoders/.
#
#   recipes/pretrain/run.sh --data PATH --out DIR [--stage N] [--stop-stage M]
#       [--set KEY=VALUE ...] [--words N] [--sentences N] [--ship]
#
# PATH: a folder of corpora, as ../shared/data: speech_commands_mini (or the full Speech
# Commands), fsdd, continuous_speech, noise, noise_extra, rir, wakewords/jarvis (each used
# when present; only their training splits teach the encoder).
# Stages: 1 synthetic speech (frequent words and random sentences, every engine installed)
#         2 transcripts of the continuous speech (Whisper tiny.en, offline)
#         3 train (resumes a killed run)  4 phoneme error rates (DIR/gru/per.json)
#         5 with --ship: copy the encoder and its report into kws/encoders/
set -euo pipefail
WORDS=4000
SENTENCES=5000
SHIP=0
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --words) WORDS=$2; shift 2 ;;
        --sentences) SENTENCES=$2; shift 2 ;;
        --ship) SHIP=1; shift ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]}"
source "$(dirname "$0")/../common.sh"
[ -n "$DATA" ] || { echo "run.sh: --data PATH (a folder of corpora) is required" >&2; exit 2; }
DATA=$(cd "$DATA" && pwd)

if stage 1 "synthetic speech: $WORDS words, $SENTENCES sentences"; then
    if [ -f "$OUT/synthetic/synth.json" ]; then
        echo "$OUT/synthetic already holds the corpus"
    else
        "$KWS" pretrain synth --out "$OUT/synthetic" --words "$WORDS" --sentences "$SENTENCES"
    fi
fi
if stage 2 "transcripts of continuous speech"; then
    if [ -d "$DATA/continuous_speech" ] && [ ! -f "$OUT/continuous.csv" ]; then
        "$KWS" pretrain transcribe "$DATA/continuous_speech" --out "$OUT/continuous.csv"
    fi
fi
corpora="$OUT/synthetic"
for c in speech_commands_mini speech_commands_v0.02 fsdd; do
    if [ -d "$DATA/$c" ]; then corpora="$corpora,$DATA/$c"; fi
done
if [ -f "$OUT/continuous.csv" ]; then corpora="$corpora,$OUT/continuous.csv"; fi
noise="$OUT/synthetic/_background_noise_"
for n in noise noise_extra; do
    if [ -d "$DATA/$n" ]; then noise="$noise,$DATA/$n"; fi
done
SETS=(--set "pretrain.corpora=[$corpora]" --set "data.noise=[$noise]")
if [ -d "$DATA/rir" ]; then SETS+=(--set "augment.rir=[$DATA/rir]"); fi
if stage 3 "train the encoder"; then
    if [ -f "$RUN/config.yaml" ] && [ ! -f "$RUN/summary.json" ]; then
        "$KWS" pretrain train --config "$CONF" --out "$RUN" --resume
    else
        "$KWS" pretrain train --config "$CONF" --out "$RUN" "${SETS[@]}" "${EXTRA[@]}"
    fi
fi
if stage 4 "phoneme error rates on held-out speech"; then
    held=(--data "$OUT/synthetic")
    for c in speech_commands_mini speech_commands_v0.02 fsdd; do
        if [ -d "$DATA/$c" ]; then held+=(--data "$DATA/$c"); fi
    done
    "$KWS" pretrain eval "$RUN" "${held[@]}" --json > "$RUN/per.json"
    if [ -d "$DATA/wakewords/jarvis" ]; then
        "$KWS" pretrain eval "$RUN" --data "$DATA/wakewords" --split all --json \
            > "$RUN/per_jarvis.json"
    fi
    "$KWS" pretrain eval "$RUN" "${held[@]}"
fi
if [ "$SHIP" = 1 ] && stage 5 "ship the encoder into kws/encoders/"; then
    "$KWS" pretrain ship "$RUN" --name base
fi
