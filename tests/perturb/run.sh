#!/usr/bin/env bash
# tests/perturb/run.sh - runs the stress suites under the perturbation
# mode (runtime/sys/sys_perturb.h) with one seed after another.
#
#   bash tests/perturb/run.sh [--seeds N] [--first S] [--jobs J]
#                             [--build DIR] [--suite NAME]...
#
# The stress suites are the ones whose cases race threads against each
# other through the protocols: mt (the multi-thread scheduler: spawn
# storms, a million cross-thread wakes, the driver hand-off), task (wake
# against run, abort and free), sync (the primitives across workers and
# plain threads), park (the park word) and sched (both flavours,
# block_on from several threads); --suite picks others. Each suite runs
# once per seed S, S+1, ... S+N-1 (default: 3 seeds from 1) with
# WEFT_PERTURB_SEED set, J programs at a time (default 2), each bounded
# by a 300 s timeout. The build is tests/run's gcc build
# (build-test-gcc: -Dperturb=true), reused as it is when it exists and
# made the same way when it does not.
#
# A run passes when the program exits 0 with cmocka's PASSED and no
# FAILED line, and the library's lines say the seed was on and its hook
# was reached ("weft: perturb seed=S: N points reached", N > 0). A failure prints the line that replays it, e.g.
#   WEFT_PERTURB_SEED=17 build-test-gcc/tests/test_mt
# and the end of its log (all logs: DIR/perturb-logs/). The same seed
# repeats the same perturbation decisions per thread, but the OS still
# schedules the threads, so a replay is likely, not certain, to fail the
# same way: run it a few times. WEFT_PERTURB_RATE, _YIELD and _SPIN pass
# through (sys_perturb.h gives their meaning and defaults).
#
# Ends with one line, also appended to $WEFT_TOTALS_FILE when set:
#   perturb: P passed, F failed
# (one count per program run). Exit status: 0 when nothing failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=3
first=1
jobs=2
build=build-test-gcc
suites=()
while [ $# -gt 0 ]; do
	case $1 in
	--seeds) seeds=$2; shift 2 ;;
	--first) first=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--suite) suites+=("$2"); shift 2 ;;
	*) echo "usage: tests/perturb/run.sh [--seeds N] [--first S] [--jobs J] [--build DIR] [--suite NAME]..." >&2; exit 2 ;;
	esac
done
[ ${#suites[@]} -gt 0 ] || suites=(mt task sync park sched)

report() {
	echo "$1"
	[ -n "${WEFT_TOTALS_FILE:-}" ] && echo "$1" >>"$WEFT_TOTALS_FILE"
	return 0
}

if [ ! -f "$build/build.ninja" ]; then
	bash tools/ensure-deps meson ninja-build pkg-config libcmocka-dev gcc
	CC=gcc meson setup "$build" -Dbuildtype=debugoptimized -Dtests=enabled \
		-Dperturb=true >/dev/null
fi
if ! grep -q -- '-DWEFT_PERTURB' "$build/build.ninja"; then
	report "perturb: 0 passed, 1 failed ($build is not a -Dperturb=true build)"
	exit 1
fi
if ! ninja -C "$build" "${suites[@]/#/tests/test_}" >"$build/perturb-build.txt" 2>&1; then
	tail -40 "$build/perturb-build.txt"
	report "perturb: 0 passed, 1 failed (build failed)"
	exit 1
fi

logs="$build/perturb-logs"
rm -rf "$logs"
mkdir -p "$logs"
# One line per run for xargs: "SEED SUITE".
for ((s = first; s < first + seeds; s++)); do
	for t in "${suites[@]}"; do
		echo "$s $t"
	done
done >"$logs/plan"

# run1 SEED SUITE: one program under one seed; writes its log and a
# verdict file (pass or fail).
run1() {
	local seed=$1 suite=$2 log="$logs/$2.$1.log" rc=0
	WEFT_PERTURB_SEED=$seed CMOCKA_MESSAGE_OUTPUT=stdout \
		timeout 300 "$build/tests/test_$suite" >"$log" 2>&1 || rc=$?
	# The library prints the seed (with a rate above 0) before main and
	# the points its hook reached at exit: a run without them was not
	# perturbed.
	if [ $rc -eq 0 ] && grep -q '\[  PASSED  \]' "$log" &&
	   ! grep -q '\[  FAILED  \]' "$log" &&
	   grep -Eq "^weft: perturb seed=$seed rate=[1-9]" "$log" &&
	   grep -Eq "^weft: perturb seed=$seed: [1-9][0-9]* points reached" "$log"; then
		echo pass >"$log.verdict"
	else
		echo "fail (exit $rc)" >"$log.verdict"
	fi
}
export -f run1
export logs build
t0=$SECONDS
xargs -P "$jobs" -L 1 bash -c 'run1 "$@"' _ <"$logs/plan" || true

passed=0
failed=0
while read -r seed suite; do
	log="$logs/$suite.$seed.log"
	if [ "$(cat "$log.verdict" 2>/dev/null)" = pass ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "--- FAILED: $suite, seed $seed: $(cat "$log.verdict" 2>/dev/null || echo 'no verdict')"
		echo "    replay: WEFT_PERTURB_SEED=$seed $build/tests/test_$suite"
		grep -E "FAILED|ERROR|LINE|Assertion|Sanitizer|Aborted|timed out" "$log" | head -10 | sed 's/^/    /' || true
		tail -5 "$log" | sed 's/^/    /'
	fi
done <"$logs/plan"
echo "perturb: seeds $first..$((first + seeds - 1)) x ${suites[*]} in $((SECONDS - t0)) s"
report "perturb: $passed passed, $failed failed"
[ $failed -eq 0 ]
