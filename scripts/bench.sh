#!/usr/bin/env bash
# Every benchmark suite, then docs/benchmarks.md from their tables.
#
#   scripts/bench.sh [--out DIR] [--runs DIR] [--run RUN ...] [--bundle B ...] [--quick]
#                    [--doc FILE]
#
# --out   where each suite writes SUITE.json + SUITE.md (default: bench-results)
# --runs  trained runs for the seed table's accuracy rows (see docs/benchmarks.md)
# --run   a trained run whose export variants the runtime suite times and scores on its
#         test split (repeatable; see docs/benchmarks.md)
# --bundle a bundle the runtime suite times as it is, e.g. from kws enroll (repeatable)
# --quick reduced suites, to check that they run (numbers not meant for the docs)
# Run it on a quiet machine: the suites time CPU work against baselines in the same run.
# Results already in --out from another machine (train_cuda.md from a GPU) are kept and
# included.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench-results
RUNS=""
DOC=docs/benchmarks.md
QUICK=()
RUNTIME=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --doc) DOC=$2; shift 2 ;;
        --run) RUNTIME+=(--run "$2"); shift 2 ;;
        --bundle) RUNTIME+=(--bundle "$2"); shift 2 ;;
        --quick) QUICK=(--quick); shift ;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
scripts/setup.sh
KWS=.venv/bin/kws
for suite in frontend runtime train gradients; do
    echo "=== kws bench $suite"
    extra=()
    if [ "$suite" = runtime ] && [ ${#RUNTIME[@]} -gt 0 ]; then
        extra=("${RUNTIME[@]}" --split test)
    fi
    "$KWS" bench "$suite" --out "$OUT" "${QUICK[@]}" "${extra[@]}"
done
echo "=== kws bench seed-table"
"$KWS" bench seed-table --out "$OUT" ${RUNS:+--runs "$RUNS"}
.venv/bin/python scripts/bench_doc.py "$OUT" "$DOC"
