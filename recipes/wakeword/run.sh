#!/usr/bin/env bash
# A custom wake word from synthetic speech: no recordings of the phrase needed.
#
#   recipes/wakeword/run.sh --phrase "hey toaster" --data PATH --out DIR [--stage N]
#       [--stop-stage M] [--model gru|lstm|rnn] [--target-fa 0.5] [--per-phrase 1500]
#       [--languages english|all|LIST] [--minutes 60] [--calibration-minutes 180]
#       [--mine-rounds N] [--engines all|LIST] [--set KEY=VALUE ...]
#
# --engines: the speech engines of kws synth (default: every one installed here;
# scripts/setup.sh --voices installs them); --languages are espeak-ng's accents.
#
# PATH is a folder of corpora (e.g. ../shared/data): the training split of each is real
# speech that is not the phrase (negatives); its noise/ folder is the noise. The phrase's
# own recordings in those corpora, if any, are left out of training and become the test.
#
# Stages: 0 synthesize the phrase (every accent, voice variant, rate, pitch) and confusable
#           negatives (its parts, rhymes, one-word swaps) plus everyday words
#         1 prepare: find the corpora under PATH, report them
#         2 train (phrase vs filler, end-aligned per-frame loss; measured rooms from PATH/rir
#           and continuous speech from PATH/continuous_speech when there), then
#           --mine-rounds N rounds of hard-negative mining
#         3 streams: test (test speech; the real recordings of the phrase when a corpus
#           has them, else synthetic test voices), a test stream without the phrase, a
#           stream of confusables only (parts of the phrase, rhymes, swaps) by test voices
#         4 calibrate the threshold for --target-fa false alarms/hour on a calibration
#           stream (validation speech and voices), run through the INT8 bundle itself
#         5 export the verified INT8 bundle (with the calibrated threshold) to DIR/bundle
#         6 evaluate the bundle on the test streams: DIR/report.json (miss rate at the
#           calibrated threshold and at 1 false alarm/hour, detections without the phrase)
PHRASE=""
TARGET_FA=0.5
PER_PHRASE=${PER_PHRASE:-1500}
ENGINES=${ENGINES:-all}
LANGUAGES=english
CAL_MINUTES=${CAL_MINUTES:-180}
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --phrase) PHRASE=$2; shift 2 ;;
        --target-fa) TARGET_FA=$2; shift 2 ;;
        --per-phrase) PER_PHRASE=$2; shift 2 ;;
        --engines) ENGINES=$2; shift 2 ;;
        --languages) LANGUAGES=$2; shift 2 ;;
        --calibration-minutes) CAL_MINUTES=$2; shift 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]}"
source "$(dirname "$0")/../common.sh"
PHRASE=$(echo "$PHRASE" | tr '[:upper:]' '[:lower:]' | tr -s ' ' | sed 's/^ //; s/ $//')
[ -n "$PHRASE" ] || { echo "run.sh: --phrase \"...\" is required" >&2; exit 2; }
[ -n "$DATA" ] || { echo "run.sh: --data PATH (a folder of corpora) is required" >&2; exit 2; }
[ -d "$DATA" ] || { echo "run.sh: --data $DATA: not a folder" >&2; exit 2; }
DATA=$(cd "$DATA" && pwd)
[ -z "$NOISE" ] && [ -d "$DATA/noise" ] && NOISE="$DATA/noise"
CORPUS="$OUT/corpus"
# everyday words a wake word hears all day (the synthetic part of the negatives)
NEGATIVES=hello,okay,please,thanks,yes,no,stop,go,open,close,light,music,weather,today,\
tomorrow,morning,coffee,kitchen,window,table,water,phone,number,dinner,listen,remember,\
together,garden,camera,minute,paper,pocket,people,something,question,answer,little,other,\
every,another,great,good,time,name,later,maybe,never,always,turn,play,call,send,timer

# beside the corpora, when PATH has them: measured room impulse responses (rir/) for
# reverberation, continuous speech (continuous_speech/, its training part) as negatives
# inside the training sequences, and more noise (noise_extra/); none of them is a corpus
ROOMS="$DATA/rir"
CONTINUOUS="$DATA/continuous_speech"
# the corpora under PATH; the ones holding the phrase as a word
REAL=()
HOLDERS=()
for d in "$DATA"/*/; do
    d=${d%/}
    case "$d" in "${NOISE:-}"|"$ROOMS"|"$CONTINUOUS"|"$DATA/noise_extra") continue ;; esac
    info=$("$KWS" data "$d" --json --no-decode 2>/dev/null) || continue
    REAL+=("$d")
    if echo "$info" | grep -Fq "\"$PHRASE\""; then HOLDERS+=("$d"); fi
done
[ ${#REAL[@]} -gt 0 ] || { echo "run.sh: no corpus found under $DATA" >&2; exit 2; }
join() { local IFS=,; echo "$*"; }
FILLERS=()        # every corpus as filler speech
TEST_FILLERS=()   # the same but the one the test's recordings come from
for d in "${REAL[@]}"; do
    FILLERS+=(--filler "$d")
    [ "$d" != "${HOLDERS[0]:-}" ] && TEST_FILLERS+=(--filler "$d")
done
WORDS=$(echo "$PHRASE" | wc -w)
CLIP=$(awk -v w="$WORDS" 'BEGIN { c = 0.5 + 0.5 * w; if (c > 2.5) c = 2.5; print c }')
TRAIN_SET=(--set "data.extra_train=[$(join "${REAL[@]}")]" --set "data.extra_exclude=[$PHRASE]"
           --set "data.clip_seconds=$CLIP")
[ -n "$NOISE" ] && TRAIN_SET+=(--set "data.noise=[$NOISE]")
[ -d "$ROOMS" ] && TRAIN_SET+=(--set "augment.rir=[$ROOMS]")
CONT_STREAM=()
if [ -d "$CONTINUOUS" ]; then
    TRAIN_SET+=(--set "data.continuous=[$CONTINUOUS]")
    CONT_STREAM=(--continuous "$CONTINUOUS")
fi
NOISE_ARGS=()
[ -n "$NOISE" ] && NOISE_ARGS=(--noise "$NOISE")

if stage 0 "synthesize \"$PHRASE\" ($PER_PHRASE renditions) and its confusables"; then
    if [ -f "$CORPUS/synth.json" ]; then
        echo "$CORPUS already holds a synthetic corpus: keeping it"
    else
        "$KWS" synth --words "$PHRASE" --confusables --negatives "$NEGATIVES" \
            --per-word "$PER_PHRASE" --per-negative $((PER_PHRASE / 40 + 1)) \
            --per-confusable $((PER_PHRASE / 10 + 1)) --languages "$LANGUAGES" \
            --engines "$ENGINES" \
            --out "$CORPUS"
    fi
fi
if stage 1 "prepare: corpora under $DATA"; then
    echo "negatives from: ${REAL[*]}"
    echo "real recordings of \"$PHRASE\" (held out for the test): ${HOLDERS[*]:-none}"
    "$KWS" data "$CORPUS" --no-decode | tail -n 3
fi
if stage 2 "train $MODEL"; then
    "$KWS" train --config "$CONF" --data "$CORPUS" "${TRAIN_SET[@]}" "${EXTRA[@]}" --out "$RUN"
    # keyword-free audio to mine: every corpus' training speech, the synthetic negatives,
    # and continuous speech when PATH has it
    mine_rounds "$CORPUS" --task words --keywords "$PHRASE" "${FILLERS[@]}" "${NOISE_ARGS[@]}" \
        ${CONT_STREAM[@]+"${CONT_STREAM[@]}"}
fi
RUN=$(final_run)
TEST="$OUT/streams/test.wav"
NEG="$OUT/streams/no_phrase.wav"
PART="$OUT/streams/partial.wav"
if stage 3 "streams: ${MINUTES}-min test, no-phrase, partial"; then
    mkdir -p "$OUT/streams"
    if [ ${#HOLDERS[@]} -gt 0 ]; then
        # test: every real recording of the phrase, amid test-split speech of all corpora
        "$KWS" make-stream "${HOLDERS[0]}" --split all --filler-split test --task words \
            --keywords "$PHRASE" "${TEST_FILLERS[@]}" "${NOISE_ARGS[@]}" --filler-prob 0.95 \
            --gap 0.5,3 --minutes "$MINUTES" --snr 10 --seed 2 --out "$TEST"
    else
        "$KWS" make-stream "$CORPUS" --split test --task words --keywords "$PHRASE" \
            "${FILLERS[@]}" "${NOISE_ARGS[@]}" --filler-prob 0.95 --gap 0.5,3 \
            --minutes "$MINUTES" --snr 10 --seed 2 --out "$TEST"
    fi
    "$KWS" make-stream "$CORPUS" --split test --task words --keywords "$PHRASE" \
        "${FILLERS[@]}" "${NOISE_ARGS[@]}" --filler-prob 1 --gap 0.5,3 \
        --minutes "$MINUTES" --snr 10 --seed 3 --out "$NEG"
    # confusables only (parts of the phrase, rhymes, swaps) and everyday words, test voices
    "$KWS" make-stream "$CORPUS" --split test --task words --keywords "$PHRASE" \
        --filler-prob 1 "${NOISE_ARGS[@]}" --minutes 10 --snr 20 --seed 4 --out "$PART"
fi
if stage 4 "calibrate the INT8 bundle: threshold for <= $TARGET_FA false alarms/hour"; then
    # a calibration stream of synthetic validation voices saying the phrase amid validation
    # speech; the threshold lands in RUN/eval/thresholds.json, where stage 5 reads it
    calibrate "$CORPUS" --task words --keywords "$PHRASE" "${FILLERS[@]}" "${NOISE_ARGS[@]}" \
        --filler-prob 0.95 --gap 0.5,3
fi
if stage 5 "export the INT8 bundle with the calibrated threshold"; then
    export_bundle
fi
if stage 6 "evaluate the bundle on the test streams"; then
    for s in "$TEST" "$NEG" "$PART"; do
        "$KWS" eval "$OUT/bundle" --no-clips --stream "$s" --target-fa 1 \
            --out "$OUT/bundle-eval" | tail -n 3
    done
    "$REPO/scripts/wakeword_report.py" "$RUN/eval" "$OUT/bundle-eval" "$PHRASE" \
        > "$OUT/report.json.tmp"
    mv "$OUT/report.json.tmp" "$OUT/report.json"
    cat "$OUT/report.json"
fi
