#!/usr/bin/env bash
# tests/model/run-model.sh MODEL.pml [expect-pass|expect-fail] [-DMACRO]...
#
# Checks a Promela model with spin, in a temporary directory it removes:
#  - safety: assertions and invalid end states (pan built with -DSAFETY
#    -DNOCLAIM, so any ltl block is ignored);
#  - liveness, when the model has an `ltl` block: acceptance cycles under
#    weak fairness (pan -a -f), for each ltl formula in the model.
# Prints the states stored by each run. Exit status 0 when the outcome
# matches the expectation: no error in any check for expect-pass, at least
# one error (pan's "errors: N", N > 0) for expect-fail. A search cut short
# by the depth or memory bound never counts as a pass. The counterexample
# trail of a failing check is printed with spin -t when WEFT_MODEL_TRAIL=1.
#
# MODEL_CHECKS=safety or MODEL_CHECKS=liveness runs only that part (a
# model too large to run both in the default suite splits them; default:
# both).
#
# pan is built with -DCOLLAPSE (lossless state compression). Bounds:
# search depth MODEL_DEPTH (default 200000), hash table 2^MODEL_W
# slots (default 20), memory MODEL_MEMLIM MB (default 1024); pan is
# compiled with MODEL_OPT (default -O0: the models are small, so the
# compile time counts more than the search speed).
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: run-model.sh MODEL.pml [expect-pass|expect-fail] [-DMACRO]..." >&2
	exit 2
fi
model=$(readlink -f "$1")
shift
expect=expect-pass
if [ $# -gt 0 ] && [[ $1 == expect-* ]]; then
	expect=$1
	shift
fi
case $expect in
expect-pass|expect-fail) ;;
*) echo "run-model.sh: unknown expectation $expect" >&2; exit 2 ;;
esac
macros=("$@")
depth=${MODEL_DEPTH:-200000}
hashw=${MODEL_W:-20}
memlim=${MODEL_MEMLIM:-1024}
spin=${SPIN:-spin}
cc=${CC:-cc}

dir=$(mktemp -d "${TMPDIR:-/tmp}/weft-model.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cp "$model" "$dir/model.pml"
cd "$dir"

name=$(basename "$model")
label="$name${macros[*]:+ ${macros[*]}}"
errors_total=0
incomplete=0
runs=0

# run_pan KIND CFLAGS... -- PANFLAGS...
run_pan() {
	local kind=$1
	shift
	local cflags=() pflags=()
	while [ "$1" != -- ]; do cflags+=("$1"); shift; done
	shift
	pflags=("$@")
	rm -f pan pan.* model.pml.trail
	"$spin" -a "${macros[@]}" model.pml >spin.out 2>&1 || { cat spin.out; echo "$label: spin -a failed"; exit 3; }
	"$cc" ${MODEL_OPT:--O0} -w -DCOLLAPSE -DMEMLIM="$memlim" "${cflags[@]}" -o pan pan.c || { echo "$label: cc failed"; exit 3; }
	local t0 t1
	t0=$(date +%s.%N)
	./pan -m"$depth" -w"$hashw" "${pflags[@]}" >pan.out 2>&1 || true
	t1=$(date +%s.%N)
	local errors states
	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | tail -1)
	if [ -z "$errors" ]; then
		cat pan.out
		echo "$label: $kind: pan gave no result"
		exit 3
	fi
	if grep -q "max search depth too small" pan.out; then
		echo "$label: $kind: incomplete: search depth $depth reached (raise MODEL_DEPTH)"
		incomplete=1
	fi
	if grep -q "MEMLIM bound" pan.out; then
		echo "$label: $kind: incomplete: memory limit $memlim MB reached (raise MODEL_MEMLIM)"
		incomplete=1
	fi
	printf '%s: %s: errors: %s, states stored: %s, %.2f s\n' \
		"$label" "$kind" "$errors" "$states" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
	if [ "$errors" -gt 0 ]; then
		grep -E "assertion violated|acceptance cycle|invalid end state|pan:[0-9]+" pan.out | head -3 || true
		if [ "${WEFT_MODEL_TRAIL:-0}" = 1 ] && [ -f model.pml.trail ]; then
			"$spin" -t -p -g -l "${macros[@]}" model.pml | head -400
		fi
	fi
	errors_total=$((errors_total + errors))
	runs=$((runs + 1))
}

checks=${MODEL_CHECKS:-all}
case $checks in
all|safety|liveness) ;;
*) echo "run-model.sh: unknown MODEL_CHECKS $checks" >&2; exit 2 ;;
esac
if [ "$checks" != liveness ]; then
	run_pan safety -DSAFETY -DNOCLAIM --
fi
if [ "$checks" != safety ]; then
	for f in $(sed -n 's/^ltl  *\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' model.pml); do
		run_pan "liveness($f)" -DNFAIR=4 -- -a -f -A -N "$f"
	done
fi

if [ "$runs" -eq 0 ]; then
	echo "$label: FAIL (nothing checked: no ltl formula for MODEL_CHECKS=$checks)"
	exit 1
fi
if [ "$expect" = expect-pass ] && [ "$errors_total" -eq 0 ] && [ "$incomplete" -eq 0 ]; then
	echo "$label: PASS (no errors, as expected)"
	exit 0
fi
if [ "$expect" = expect-fail ] && [ "$errors_total" -gt 0 ]; then
	echo "$label: PASS (the model checker rejected it, as expected)"
	exit 0
fi
echo "$label: FAIL ($expect, $errors_total errors$([ "$incomplete" -eq 0 ] || echo ", search incomplete"))"
exit 1
