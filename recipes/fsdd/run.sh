#!/usr/bin/env bash
# Free Spoken Digit Dataset: digits 0-9 (8 kHz, resampled to 16 kHz); indices 0-4 are test.
#
#   recipes/fsdd/run.sh --data PATH --out DIR [--stage N] [--stop-stage M]
#       [--model gru|lstm|rnn] [--noise PATH] [--set KEY=VALUE ...]
#
# Stages: 0 download (needs internet; skipped when PATH has data)  1 prepare  2 train
#         3 calibrate (per-keyword thresholds on a stream of validation recordings)
#         4 export (verified INT8 bundle in DIR/bundle)  5 evaluate (test accuracy + stream)
# Here: --data ../shared/data/fsdd (noise from ../shared/data/noise).
source "$(dirname "$0")/../common.sh"
[ -n "$DATA" ] || DATA="$OUT/free-spoken-digit-dataset"
if stage 0 "download FSDD"; then
    if [ -d "$DATA" ] && [ -n "$(ls -A "$DATA" 2>/dev/null)" ]; then
        echo "$DATA already holds data: skipping the download"
    else
        git clone --depth 1 https://github.com/Jakobovski/free-spoken-digit-dataset "$DATA"
    fi
fi
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
if stage 3 "calibrate: ${CAL_MINUTES}-minute stream of validation recordings"; then
    calibrate "$DATA" --noise "$NOISE"
fi
if stage 4 "export the INT8 bundle"; then
    export_bundle
fi
if stage 5 "evaluate: test clips and a ${MINUTES}-minute stream"; then
    evaluate "$DATA" test --noise "$NOISE"
fi
