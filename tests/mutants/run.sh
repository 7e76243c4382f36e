#!/usr/bin/env bash
# tests/mutants/run.sh - the mutation harness: proves that the test suites
# can fail. Each tests/mutants/NAME.patch plants one bug in a
# protocol-critical mechanism (a cap, an interval, a waker drop, an
# ordering in a state word, the tick check, the rounding of a deadline,
# the EMFILE spare fd). For each, this script applies the patch to a copy
# of the tree, rebuilds (incrementally), runs the suites the patch names
# and expects at least one test to fail: the mutant is then "killed".
# A mutant that leaves its suites green "survived", which fails the run.
#
#   bash tests/mutants/run.sh [--dirty] [NAME...]
#
# NAME: a mutant (tests/mutants/NAME.patch); none: all of them.
# --dirty: test the working tree's tracked files as they are, not HEAD
#          (for writing a mutant or its test; CI runs on HEAD).
#
# A patch file starts with header lines, which git apply skips because
# they come before the first "diff --git":
#   Mutant:  one sentence: the bug planted
#   Suites:  the meson tests (one cmocka program per area) that must kill it
#   Build:   default (gcc, debugoptimized) or thread (clang + TSan: a
#            weakened ordering in a state word is only observable as a
#            data race, so those run under ThreadSanitizer as tests/run
#            --cc clang --sanitize thread does) or kqueue (gcc, the kqueue
#            backend on the kevent double, as tests/run --backend kqueue)
#   Timeout: optional, seconds per test program (default 120)
# A patch that no longer applies (the code moved) fails the run loudly:
# that is how the patches are kept current. So does one that no longer
# builds, or whose reverse does not restore the tree.
#
# A test that hangs is killed only by meson's timeout; the table says
# "timeout" for such a kill, so a kill by hanging is visible as one.
#
# Work tree: build-mutants/ at the top of the tree (src/: a copy of the
# tree at HEAD, its own git repository borrowing this one's objects;
# build-default/, build-thread/: one build per kind, configured once and
# kept between runs, so a second run rebuilds only what changed).
#
# Output: one line per mutant, a table mutant -> killing test, and
#   mutants: N passed, N failed
# (a killed mutant passes; also appended to $WEFT_TOTALS_FILE when set).
# Exit status 0 when every mutant was killed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mutants_dir=tests/mutants
rev=HEAD
names=()
while [ $# -gt 0 ]; do
	case $1 in
	--dirty) rev=dirty; shift ;;
	-h|--help) sed -n '2,40p' "$0"; exit 0 ;;
	-*) echo "usage: tests/mutants/run.sh [--dirty] [NAME...]" >&2; exit 2 ;;
	*) names+=("${1%.patch}"); shift ;;
	esac
done
if [ ${#names[@]} -eq 0 ]; then
	for p in "$mutants_dir"/*.patch; do
		n=${p##*/}
		names+=("${n%.patch}")
	done
fi

bash tools/ensure-deps meson ninja-build pkg-config libcmocka-dev gcc clang python3 >/dev/null

work=$root/build-mutants
src=$work/src
mkdir -p "$work"
t_start=$SECONDS

# --- the copy of the tree ------------------------------------------------
if [ "$rev" = dirty ]; then
	# A commit of the working tree's tracked files (not stored in any ref).
	rev=$(git stash create)
	rev=${rev:-HEAD}
fi
rev=$(git rev-parse "$rev^{commit}") || exit 1
if [ ! -d "$src/.git" ]; then
	git init -q "$src" || exit 1
	# Borrow this repository's objects: any commit of ours checks out.
	echo "$(git rev-parse --path-format=absolute --git-common-dir)/objects" \
		>"$src/.git/objects/info/alternates"
fi
# checkout -f rewrites only the files that differ, so builds stay incremental.
if ! git -C "$src" -c advice.detachedHead=false checkout -q -f --detach "$rev" ||
   ! git -C "$src" clean -q -f -d -x; then
	echo "mutants: cannot check out $rev into $src" >&2
	exit 1
fi

# --- one build per kind --------------------------------------------------
# The options of tests/run (perturb compiles the test hooks in); no
# examples or benchmarks, which no suite needs.
common_opts=(-Dbuildtype=debugoptimized -Dtests=enabled -Dperturb=true
	     -Dexamples=false -Dbench=false)
setup_build() {   # KIND -> configures $work/build-KIND once
	local kind=$1 dir=$work/build-$1
	[ -f "$dir/build.ninja" ] && return 0
	case $kind in
	default) CC=gcc meson setup "$dir" "$src" "${common_opts[@]}" ;;
	thread) CC=clang meson setup "$dir" "$src" "${common_opts[@]}" \
			-Db_sanitize=thread -Db_lundef=false ;;
	kqueue) CC=gcc meson setup "$dir" "$src" "${common_opts[@]}" -Dio_backend=kqueue ;;
	*) echo "unknown Build: $kind" >&2; return 1 ;;
	esac >"$work/setup-$kind.txt" 2>&1 || { cat "$work/setup-$kind.txt" >&2; return 1; }
}
build() {   # KIND [TARGET...] -> ninja in that build, quiet unless it fails
	local dir=$work/build-$1
	shift
	if ! nice -n 10 ninja -C "$dir" "$@" >"$dir/ninja-output.txt" 2>&1; then
		tail -30 "$dir/ninja-output.txt" >&2
		return 1
	fi
}

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# Which tests failed, and how, from meson's log: "suite/case" for a
# cmocka failure, "suite/case (crash)" or "suite/case (timeout)" for a
# program that died or hung in that case.
killers() {   # BUILDDIR
	python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, re, sys
out = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["result"] in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    name = t["name"].split(" / ")[-1]   # "weft / tcp" -> "tcp"
    log = (t.get("stdout") or "") + (t.get("stderr") or "")
    failed = []
    for m in re.finditer(r"^\[  FAILED  \] (\S+)\s*$", log, re.M):
        if m.group(1) not in failed:
            failed.append(m.group(1))
    if failed:
        out += [f'{name}/{c}' for c in failed]
        continue
    # No cmocka verdict: the case that was running when it died.
    runs = re.findall(r"^\[ RUN      \] (\S+)", log, re.M)
    oks = set(re.findall(r"^\[       OK \] (\S+)", log, re.M))
    case = next((c for c in reversed(runs) if c not in oks), None)
    how = "timeout" if t["result"] == "TIMEOUT" else "crash: " + t["result"].lower()
    if "ThreadSanitizer" in log:
        how = "TSan report"
    elif "LeakSanitizer" in log:
        how = "leak report"
    out.append(f'{name}/{case or "?"} ({how})')
print(", ".join(out))
PY
}

header() {   # FILE KEY -> the header's value
	sed -n "/^diff --git/q; s/^$2: *//p" "$1" | head -1
}

# The suites each build kind runs, over all the mutants asked for.
declare -A kind_suites=()
for name in "${names[@]}"; do
	patch=$root/$mutants_dir/$name.patch
	[ -f "$patch" ] || continue
	k=$(header "$patch" Build)
	kind_suites[${k:-default}]+=" $(header "$patch" Suites)"
done

table=$(mktemp)
passed=0
failed=0
declare -A kinds_ready=()
for name in "${names[@]}"; do
	patch=$root/$mutants_dir/$name.patch
	t0=$SECONDS
	if [ ! -f "$patch" ]; then
		echo "$name: FAILED: no such mutant ($patch)"
		printf '%s\t%s\n' "$name" "FAILED: no patch file" >>"$table"
		failed=$((failed + 1))
		continue
	fi
	suites=$(header "$patch" Suites)
	kind=$(header "$patch" Build)
	kind=${kind:-default}
	limit=$(header "$patch" Timeout)
	limit=${limit:-120}
	if [ -z "$suites" ]; then
		echo "$name: FAILED: the patch names no Suites"
		printf '%s\t%s\n' "$name" "FAILED: no Suites header" >>"$table"
		failed=$((failed + 1))
		continue
	fi
	if [ -z "${kinds_ready[$kind]:-}" ]; then
		echo "--- configuring and building the $kind build"
		if ! setup_build "$kind" || ! build "$kind"; then
			echo "mutants: the unmutated $kind build fails" >&2
			echo "mutants: 0 passed, ${#names[@]} failed (unmutated build fails)" |
				tee -a "${WEFT_TOTALS_FILE:-/dev/null}"
			exit 1
		fi
		# A kill means something only if the unmutated suites pass.
		base=$(printf '%s\n' ${kind_suites[$kind]} | sort -u | tr '\n' ' ')
		echo "--- the unmutated $kind build must pass: $base"
		# shellcheck disable=SC2086
		# Under the mutants' own time limit: a suite that needs longer
		# than that must fail here, not "kill" every mutant by timing out.
		if ! nice -n 10 meson test -C "$work/build-$kind" --no-rebuild --num-processes 2 \
			--timeout-multiplier "$(python3 -c "print($limit / 300)")" \
			$base >"$work/build-$kind/test-output.txt" 2>&1; then
			echo "mutants: the unmutated $kind build fails: $(killers "$work/build-$kind")" >&2
			echo "mutants: 0 passed, ${#names[@]} failed (unmutated suites fail)" |
				tee -a "${WEFT_TOTALS_FILE:-/dev/null}"
			exit 1
		fi
		kinds_ready[$kind]=1
		t0=$SECONDS   # the mutant's own time, without its build kind's setup
	fi
	dir=$work/build-$kind
	if ! git -C "$src" apply "$patch" 2>"$work/apply.txt"; then
		echo "$name: FAILED: the patch no longer applies (update it to the code):"
		sed 's/^/    /' "$work/apply.txt"
		printf '%s\t%s\n' "$name" "FAILED: does not apply" >>"$table"
		failed=$((failed + 1))
		continue
	fi
	verdict=
	# Only the programs of the suites named (each test_NAME): fewer links.
	targets=()
	for s in $suites; do
		targets+=("tests/test_$s")
	done
	if ! build "$kind" "${targets[@]}"; then
		verdict="FAILED: the mutant does not build"
	else
		# meson's timeout is 300 s a program; the multiplier sets ours.
		mult=$(python3 -c "print($limit / 300)")
		# shellcheck disable=SC2086
		nice -n 10 meson test -C "$dir" --no-rebuild --num-processes 2 \
			--timeout-multiplier "$mult" $suites >"$dir/test-output.txt" 2>&1
		rc=$?
		who=$(killers "$dir")
		if [ $rc -ne 0 ] && [ -n "$who" ]; then
			verdict="killed by $who"
		elif [ $rc -ne 0 ]; then
			verdict="FAILED: meson test failed without a failing test (see $dir/test-output.txt)"
		else
			verdict="SURVIVED ($suites all green)"
		fi
	fi
	if ! git -C "$src" apply -R "$patch" || ! git -C "$src" diff --quiet; then
		echo "$name: the reverse patch does not restore the tree; stopping" >&2
		exit 1
	fi
	echo "$name: $verdict [$((SECONDS - t0)) s, $kind: $suites]"
	case $verdict in
	killed*) passed=$((passed + 1)); printf '%s\t%s\n' "$name" "${verdict#killed by }" >>"$table" ;;
	*) failed=$((failed + 1)); printf '%s\t%s\n' "$name" "$verdict" >>"$table" ;;
	esac
done

echo "--- mutant -> killing test (wall time $((SECONDS - t_start)) s)"
column -t -s $'\t' "$table" 2>/dev/null || cat "$table"
rm -f "$table"
line="mutants: $passed passed, $failed failed"
echo "$line"
[ -n "${WEFT_TOTALS_FILE:-}" ] && echo "$line" >>"$WEFT_TOTALS_FILE"
[ "$failed" -eq 0 ]
