#!/usr/bin/env bash
# Arabic Speech Commands (40 keywords; official train.csv / val.csv; _silence_ from noise).
#
#   recipes/arabic_speech_commands/run.sh --data PATH --out DIR [--stage N] [--stop-stage M]
#       [--model gru|lstm|rnn] [--noise PATH] [--set KEY=VALUE ...]
#
# Stages: 1 prepare  2 train (selected on val.csv)
#         3 calibrate (per-keyword thresholds on a stream of val.csv, seed 11)
#         4 export (verified INT8 bundle in DIR/bundle)
#         5 evaluate (val.csv accuracy + a stream of val.csv, seed 0: the corpus has no
#           third split here, so calibration and test share speakers, not clip order)
# Here: --data ../shared/data/arabic_speech_commands (noise from ../shared/data/noise).
source "$(dirname "$0")/../common.sh"
[ -n "$DATA" ] || { echo "run.sh: --data PATH (folder with train.csv and val.csv)" >&2; exit 2; }
default_noise "$DATA"
[ -n "$NOISE" ] || { echo "run.sh: no noise folder beside the data: give --noise PATH" >&2; exit 2; }

if stage 1 "prepare: corpus report"; then
    "$KWS" data "$DATA" --noise "$NOISE" --json > "$OUT/data.json"
    "$KWS" data "$DATA" --noise "$NOISE" --no-decode | head -n 2
fi
if stage 2 "train $MODEL"; then
    "$KWS" train --config "$CONF" --data "$DATA" $(noise_set) "${EXTRA[@]}" --out "$RUN"
    mine_rounds "$DATA" --noise "$NOISE"
fi
RUN=$(final_run)
if stage 3 "calibrate: ${CAL_MINUTES}-minute stream of val.csv"; then
    calibrate "$DATA" --noise "$NOISE"
fi
if stage 4 "export the INT8 bundle"; then
    export_bundle
fi
if stage 5 "evaluate: validation clips and a ${MINUTES}-minute stream"; then
    evaluate "$DATA" validation --noise "$NOISE"
fi
