#!/usr/bin/env bash
# tests/fuzz/run.sh - builds the libFuzzer targets of tests/fuzz/ and runs
# each one for a bounded time.
#
#   bash tests/fuzz/run.sh [--seconds N] [--target NAME]...
#
# Installs clang and libFuzzer through apt when missing (Debian 12),
# configures build-fuzz (clang, -Dfuzz=true: ASan + UBSan + libFuzzer),
# then for each target: replays its seed corpus tests/fuzz/corpus/<target>/
# (-runs=0), and fuzzes for N seconds (default 20) from seed 1, writing
# new inputs and crash reproducers to a temporary directory, never to the
# tree. A target passes when neither step found anything. Ends with one
# line, also appended to $WEFT_TOTALS_FILE when set:
#   fuzz: P passed, F failed
# Exit status: 0 when nothing failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=20
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--target) targets+=("$2"); shift 2 ;;
	*) echo "usage: tests/fuzz/run.sh [--seconds N] [--target NAME]..." >&2; exit 2 ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_http fuzz_addr fuzz_runtime)

bash tools/ensure-deps meson ninja-build clang libclang-rt-14-dev

report() {
	echo "$1"
	[ -n "${WEFT_TOTALS_FILE:-}" ] && echo "$1" >>"$WEFT_TOTALS_FILE"
	return 0
}

build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
	# Only the library and the targets: no tests, examples or benches.
	CC=clang meson setup "$build" -Dfuzz=true -Dbuildtype=debugoptimized \
		-Db_lundef=false -Dtests=disabled -Dexamples=false -Dbench=false >/dev/null
fi
# The targets alone (and the objects they need), not the shared library.
if ! nice ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >"$build/build-output.txt" 2>&1; then
	tail -40 "$build/build-output.txt"
	report "fuzz: 0 passed, ${#targets[@]} failed (build failed)"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-fuzz.XXXXXX")
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
passed=0
failed=0
for t in "${targets[@]}"; do
	bin="$build/tests/fuzz/$t"
	seeds="tests/fuzz/corpus/$t"
	found="$work/$t"            # new inputs: the first corpus dir is written to
	mkdir -p "$found"
	log="$work/$t.log"
	: >"$log"
	ok=1
	extra=()
	# Long enough for the 431 and 413 paths and a full read buffer
	# (HTTP_IN_CAP); libFuzzer still starts short and grows inputs.
	[ "$t" = fuzz_http ] && extra=(-max_len=20000)
	step=fuzzing
	if ! (nice "$bin" "$seeds" -runs=0 -artifact_prefix="$work/$t-" >"$log.replay" 2>&1); then
		ok=0
		step="replaying the seed corpus"
	elif ! (nice "$bin" "$found" "$seeds" -seed=1 -max_total_time="$seconds" -timeout=10 \
		"${extra[@]}" -print_final_stats=1 -artifact_prefix="$work/$t-" >"$log" 2>&1); then
		ok=0
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" 2>/dev/null | tail -1)
	if [ $ok -eq 1 ]; then
		passed=$((passed + 1))
		echo "$t: ok, ${execs:-?} executions in ${seconds} s (${rate:-?}/s), $(ls "$found" | wc -l) new inputs"
	else
		failed=$((failed + 1))
		if [ "$step" = fuzzing ]; then
			echo "$t: FAILED while fuzzing, after ${execs:-?} executions"
		else
			echo "$t: FAILED while $step"
		fi
		grep -E "ERROR: |check failed|runtime error|SUMMARY" "$log.replay" "$log" 2>/dev/null | head -8 || true
		for a in "$work/$t"-*; do
			[ -e "$a" ] || continue
			echo "  reproducer: $a"
			echo "  replay it (from the source root):  $bin $a"
			echo "  once fixed, keep it as a regression input:"
			echo "    cp $a $seeds/regress-$(basename "$a" | sed "s/^$t-//")"
		done
		echo "  full log: $log"
	fi
done
report "fuzz: $passed passed, $failed failed"
if [ $failed -eq 0 ]; then
	rm -rf "$work"
	exit 0
fi
exit 1
