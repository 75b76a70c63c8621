#!/usr/bin/env bash
# Which robustness measures help a wake word trained on synthetic speech: the wakeword
# recipe with each measure off (or widened), everything else equal, all variants scored on
# the same streams. Variants train in parallel (one GPU holds them all).
#
#   scripts/wakeword_ablation.sh --phrase sheila --data ../shared/data --out DIR
#       [--variants all,no_reverb,...] [recipe options, e.g. --per-phrase 1500]
#
# Writes DIR/<variant>/report.json for each and DIR/ablation.md (one table).
set -euo pipefail
cd "$(dirname "$0")/.."
PHRASE=""
DATA=""
OUT=""
VARIANTS=all,no_reverb,no_bandlimit,no_reverb_no_bandlimit,no_speed,languages_all
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --phrase) PHRASE=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --variants) VARIANTS=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
[ -n "$PHRASE" ] && [ -n "$DATA" ] && [ -n "$OUT" ] || {
    echo "wakeword_ablation: --phrase, --data and --out are required" >&2; exit 2; }
RECIPE=recipes/wakeword/run.sh
COMMON=(--phrase "$PHRASE" --data "$DATA" "${ARGS[@]}")

options() {  # the recipe options of one variant
    case "$1" in
        all) ;;
        no_reverb) echo "--set augment.reverb_prob=0" ;;
        no_bandlimit) echo "--set augment.bandlimit_prob=0" ;;
        no_reverb_no_bandlimit) echo "--set augment.reverb_prob=0 --set augment.bandlimit_prob=0" ;;
        no_speed) echo "--set augment.speed=[1.0,1.0]" ;;
        languages_all) echo "--languages all" ;;
        *) echo "wakeword_ablation: unknown variant $1" >&2; exit 2 ;;
    esac
}

echo "=== the shared corpus and streams: $OUT/base"
"$RECIPE" "${COMMON[@]}" --out "$OUT/base" --stop-stage 3
IFS=, read -r -a NAMES <<< "$VARIANTS"
PIDS=()
for v in "${NAMES[@]}"; do
    read -r -a opts <<< "$(options "$v")"
    mkdir -p "$OUT/$v"
    ln -sfn "$(cd "$OUT/base" && pwd)/streams" "$OUT/$v/streams"
    first=2
    if [ "$v" = languages_all ]; then first=0; else
        ln -sfn "$(cd "$OUT/base" && pwd)/corpus" "$OUT/$v/corpus"; fi
    echo "=== $v: ${opts[*]:-(the recipe as it is)} -> $OUT/$v.log"
    ( "$RECIPE" "${COMMON[@]}" "${opts[@]}" --out "$OUT/$v" --stage "$first" --stop-stage 2 \
      && "$RECIPE" "${COMMON[@]}" "${opts[@]}" --out "$OUT/$v" --stage 4 ) \
        > "$OUT/$v.log" 2>&1 &
    PIDS+=($!)
done
status=0
for p in "${PIDS[@]}"; do wait "$p" || status=1; done
python3 - "$OUT" "${NAMES[@]}" > "$OUT/ablation.md" <<'EOF'
import json, sys
from pathlib import Path
out, names = Path(sys.argv[1]), sys.argv[2:]
print("| variant | calibration FA/h (miss) | test miss at the calibrated threshold | "
      "test miss at 1 FA/h | detections without the phrase | on confusables |")
print("| --- | --- | --- | --- | --- | --- |")
for v in names:
    p = out / v / "report.json"
    if not p.is_file():
        print(f"| {v} | failed: see {v}.log | | | | |")
        continue
    r = json.loads(p.read_text())
    c, t = r["calibration"], r["test"]
    print(f"| {v} | {c['false_alarms_per_hour']:.2f} ({100 * c['miss_rate']:.1f} %) | "
          f"{100 * t['miss_rate']:.1f} % ({t['false_alarms_per_hour']:.1f} FA/h) | "
          f"{100 * t['at_1_fa_per_hour']['miss_rate']:.1f} % | "
          f"{r['no_phrase']['detections']} in {r['no_phrase']['hours']:.1f} h | "
          f"{r['confusables']['detections']} in {60 * r['confusables']['hours']:.0f} min |")
EOF
cat "$OUT/ablation.md"
exit $status
