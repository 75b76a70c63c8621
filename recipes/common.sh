# Shared by every recipe's run.sh: argument parsing, stage control, the kws command.
#
#   run.sh --data PATH --out DIR [--stage N] [--stop-stage M] [--model gru|lstm|rnn|base]
#          [--noise PATH] [--mine-rounds N] [--set KEY=VALUE ...]
#
# Stages run from --stage to --stop-stage (inclusive); each recipe numbers its own.
# --mine-rounds N ends the train stage with N rounds of hard-negative mining (mine_rounds):
# later stages then use the last round's model, DIR/<model>_mined<N>.
set -euo pipefail

RECIPE_DIR=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
REPO=$(cd "$RECIPE_DIR/../.." && pwd)
DATA=""
OUT=""
STAGE=0
STOP_STAGE=99
MODEL=gru
NOISE=""
MINUTES=${MINUTES:-60}
MINE_ROUNDS=0
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --data) DATA=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --stage) STAGE=$2; shift 2 ;;
        --stop-stage) STOP_STAGE=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --noise) NOISE=$2; shift 2 ;;
        --minutes) MINUTES=$2; shift 2 ;;
        --mine-rounds) MINE_ROUNDS=$2; shift 2 ;;
        --set) EXTRA+=(--set "$2"); shift 2 ;;
        -h|--help) sed -n '2,40p' "$RECIPE_DIR/run.sh" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$OUT" ] || { echo "run.sh: --out DIR is required" >&2; exit 2; }
if [ ! -f "$RECIPE_DIR/conf/$MODEL.yaml" ]; then
    echo "run.sh: --model $MODEL: expected one of $(ls "$RECIPE_DIR/conf" | sed 's/\.yaml$//' | paste -sd' ' -)" >&2
    exit 2
fi
case "$MINE_ROUNDS" in ''|*[!0-9]*) echo "run.sh: --mine-rounds must be a number" >&2; exit 2 ;; esac
CONF="$RECIPE_DIR/conf/$MODEL.yaml"
RUN="$OUT/$MODEL"
mkdir -p "$OUT"

if [ -n "${KWS:-}" ]; then :
elif command -v kws >/dev/null 2>&1; then KWS=kws
elif [ -x "$REPO/.venv/bin/kws" ]; then KWS="$REPO/.venv/bin/kws"
else echo "run.sh: the kws command is not installed: run scripts/setup.sh first" >&2; exit 2
fi

stage() {  # stage N "description": true when N is within [--stage, --stop-stage]
    if [ "$1" -ge "$STAGE" ] && [ "$1" -le "$STOP_STAGE" ]; then
        echo "=== stage $1: $2"
        return 0
    fi
    return 1
}

default_noise() {  # the noise folder beside the data (../shared/data/noise), if any
    if [ -z "$NOISE" ] && [ -d "$1/../noise" ]; then NOISE=$(cd "$1/../noise" && pwd); fi
}

train_seed() {  # the recipe's --set train.seed=N (the last one given; 0 when none)
    local seed=0 arg
    for arg in "${EXTRA[@]}"; do
        case "$arg" in train.seed=*) seed=${arg#train.seed=} ;; esac
    done
    echo "$seed"
}

noise_set() {  # --set data.noise=[...] when a noise folder is known
    if [ -n "$NOISE" ]; then echo "--set data.noise=[$NOISE]"; fi
}

# mine_rounds CORPUS [make-stream options...]: after training, --mine-rounds rounds of
# hard-negative mining: a ${MINE_MINUTES}-minute stream of the corpus' training split with
# no keyword in it (other words, and what the options add) is run through the model, the
# windows where it fires at $MINE_THRESHOLD go to DIR/hard_negatives, and the model is
# trained on from its weights for $MINE_EPOCHS epochs with them inside its sequences (a run
# trained on clips alone gets $MINE_SEQUENCES sequences per step for it)
MINE_MINUTES=${MINE_MINUTES:-60}
MINE_SEQUENCES=${MINE_SEQUENCES:-16}
MINE_THRESHOLD=${MINE_THRESHOLD:-0.3}
MINE_EPOCHS=${MINE_EPOCHS:-8}
MINE_LR=${MINE_LR:-0.001}
mine_rounds() {
    [ "$MINE_ROUNDS" -gt 0 ] || return 0
    local corpus=$1; shift
    local audio="$OUT/streams/mining.wav" hard="$OUT/hard_negatives" prev="$OUT/$MODEL" r
    mkdir -p "$OUT/streams"
    if [ ! -f "$audio" ]; then
        "$KWS" make-stream "$corpus" --split train --filler-prob 1 --minutes "$MINE_MINUTES" \
            --snr 10 --seed 31 --out "$audio" "$@"
    fi
    for r in $(seq 1 "$MINE_ROUNDS"); do
        "$KWS" mine "$prev" --audio "$audio" --out "$hard" --threshold "$MINE_THRESHOLD"
        if ! compgen -G "$hard/*.wav" > /dev/null; then
            echo "mining round $r: the model fires nowhere in $audio; it is kept"
            ln -sfn "$(basename "$prev")" "$OUT/${MODEL}_mined$r"
        else
            local seq=()
            if grep -A1 '^sequences:' "$prev/config.yaml" | grep -q '^  batch: 0$'; then
                seq=(--set "sequences.batch=$MINE_SEQUENCES")
            fi
            "$KWS" train --config "$prev/config.yaml" --set "train.init=$prev/model.pt" \
                --set "data.hard_negatives=[$hard]" --set "train.epochs=$MINE_EPOCHS" \
                --set "train.lr=$MINE_LR" ${seq[@]+"${seq[@]}"} --out "$OUT/${MODEL}_mined$r"
        fi
        prev="$OUT/${MODEL}_mined$r"
    done
}

final_run() {  # the run later stages use: the last mining round's, or the trained one
    if [ "$MINE_ROUNDS" -gt 0 ]; then echo "$OUT/${MODEL}_mined$MINE_ROUNDS"; else echo "$RUN"; fi
}

# Streams are made once per recipe output and kept (delete DIR/streams to make new ones).
TARGET_FA=${TARGET_FA:-1}
CAL_MINUTES=${CAL_MINUTES:-60}

# calibrate CORPUS [make-stream options...]: a ${CAL_MINUTES}-minute calibration stream of the
# corpus' validation split (voices training never heard), run through the INT8 bundle as a
# device runs it; the per-keyword thresholds for <= $TARGET_FA false alarms/hour go to
# $RUN/eval/thresholds.json, where export reads them
calibrate() {
    local corpus=$1; shift
    local cal="$OUT/streams/calibration.wav"
    mkdir -p "$OUT/streams"
    if [ ! -f "$cal" ]; then
        "$KWS" make-stream "$corpus" --split validation --out "$cal" --minutes "$CAL_MINUTES" \
            --snr 10 --seed 11 "$@"
    fi
    # the thresholds of an earlier calibration must not reach the bundle being calibrated
    rm -f "$RUN/eval/thresholds.json"
    "$KWS" export "$RUN" --out "$OUT/uncalibrated" --quantize dynamic
    "$KWS" eval "$OUT/uncalibrated" --no-clips --stream "$cal" --target-fa "$TARGET_FA" \
        --out "$RUN/eval" | tail -n 3
}

export_bundle() {
    "$KWS" export "$RUN" --out "$OUT/bundle" --quantize dynamic "$@"
}

# evaluate CORPUS SPLIT [make-stream options...]: the run's clip accuracy on SPLIT, and the
# bundle on a ${MINUTES}-minute test stream of SPLIT at its calibrated thresholds (and the DET
# curve, with the shared threshold for 1 false alarm/hour); $RUN/report.json holds both
evaluate() {
    local corpus=$1 split=$2; shift 2
    local stream="$OUT/streams/test_${MINUTES}min.wav"
    mkdir -p "$OUT/streams"
    if [ ! -f "$stream" ]; then
        "$KWS" make-stream "$corpus" --split "$split" --out "$stream" --minutes "$MINUTES" \
            --snr 10 "$@"
    fi
    "$KWS" eval "$RUN" --split "$split" | tail -n 4
    "$KWS" eval "$OUT/bundle" --no-clips --stream "$stream" --target-fa 1 \
        --out "$OUT/bundle-eval"
    "$REPO/scripts/eval_summary.py" "$RUN" "$OUT/bundle-eval" "$stream" > "$RUN/report.json.tmp"
    mv "$RUN/report.json.tmp" "$RUN/report.json"
    cat "$RUN/report.json"
}
