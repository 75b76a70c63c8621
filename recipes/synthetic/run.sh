#!/usr/bin/env bash
# The built-in default: a synthetic keyword corpus, no data of your own needed.
#
#   recipes/synthetic/run.sh --out DIR [--stage N] [--stop-stage M] [--model gru|lstm|rnn]
#       [--words w1,w2,...] [--per-word N] [--engines all|LIST] [--set KEY=VALUE ...]
#
# --engines: the speech engines of kws synth (default: every one installed here; espeak-ng
# alone on a fresh machine, all eight after scripts/setup.sh --voices).
#
# Stages: 0 synthesize the corpus (keywords + negatives + generated noise)
#         1 prepare  2 train (clips and training sequences of running speech)
#         3 calibrate: per-keyword thresholds for <= 1 false alarm/hour on a calibration
#           stream of validation voices, through the INT8 bundle
#         4 export (verified INT8 bundle with those thresholds in DIR/bundle)
#         5 evaluate: test clips, and the bundle on a test stream (DIR/gru/report.json)
# Streams: keywords between other words and, for a quarter of them, inside running speech
# (other words just before and after), over noise at 10 dB SNR.
WORDS=yes,no,up,down,left,right,on,off,stop,go
# words a stream will hear between keywords: the _unknown_ class (kept apart from the words
# of the demo sentences, which test it)
NEGATIVES=bed,bird,cat,dog,happy,house,marvin,sheila,tree,wow,learn,follow,forward,visual,\
one,two,three,four,five,six,seven,eight,nine,zero,yellow,window,kitchen,morning,coffee,table,\
open,close,water,phone,number,yesterday,often,gone,\
goal,start,bright,noise,snow,soft,under,over,about,around,because,people,\
something,thanks,hello,good,great,little,other,every,another,question,answer,weather,\
dinner,listen,remember,together,tomorrow,garden,camera,minute,second,paper,pocket
PER_WORD=${PER_WORD:-250}
ENGINES=${ENGINES:-all}
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --words) WORDS=$2; shift 2 ;;
        --per-word) PER_WORD=$2; shift 2 ;;
        --engines) ENGINES=$2; shift 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]}"
source "$(dirname "$0")/../common.sh"
[ -n "$DATA" ] || DATA="$OUT/corpus"
if stage 0 "synthesize ${PER_WORD} renditions of each of $WORDS"; then
    if [ -f "$DATA/synth.json" ]; then
        echo "$DATA already holds a synthetic corpus: keeping it"
    else
        "$KWS" synth --words "$WORDS" --negatives "$NEGATIVES" --per-word "$PER_WORD" \
            --per-negative $((PER_WORD / 8 + 1)) --engines "$ENGINES" --out "$DATA"
    fi
fi
if stage 1 "prepare: corpus report"; then
    "$KWS" data "$DATA" --json > "$OUT/data.json"
    "$KWS" data "$DATA" --no-decode | tail -n 2
fi
if stage 2 "train $MODEL"; then
    "$KWS" train --config "$CONF" --data "$DATA" "${EXTRA[@]}" --out "$RUN"
    mine_rounds "$DATA"
fi
RUN=$(final_run)
STREAM=(--filler-prob 0.3 --inside 0.25)
if stage 3 "calibrate: ${CAL_MINUTES}-minute stream of validation voices"; then
    calibrate "$DATA" "${STREAM[@]}"
fi
if stage 4 "export the INT8 bundle"; then
    export_bundle
fi
if stage 5 "evaluate: test clips and a ${MINUTES}-minute stream"; then
    evaluate "$DATA" test "${STREAM[@]}"
fi
