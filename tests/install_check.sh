#!/usr/bin/env bash
# tests/install_check.sh SOURCE_ROOT - follows the README's Install section
# word for word, the way a new user would:
#
#   - the commands are every ```sh block between the README's
#     <!-- install-begin --> and <!-- install-end --> markers, run as they
#     are, in order, as one bash script with -euo pipefail;
#   - prog.c is the C block of the README's "A complete program" section;
#   - they run in a fresh temporary folder with a clean environment
#     (env -i: no CC, CFLAGS, PKG_CONFIG_*, LD_LIBRARY_PATH from the caller),
#     with PREFIX a fresh folder inside it and WEFT_SRC this source tree.
#
# The commands build their own (plain, unsanitized) library from the
# source tree, so the result does not depend on how the calling build was
# configured (gcc or clang, sanitizers or not). Afterwards the script
# checks what the section's prose says: where the files land, that the
# program links libweft.so.0 from $PREFIX/lib through its rpath, that
# without the rpath it fails with the error the README quotes and that
# LD_LIBRARY_PATH then works, that the static program needs no libweft.so,
# and that the installed headers compile as C++.
#
# Writes only inside one mktemp folder, removed on exit; every run of the
# README's commands is bounded by timeout. Exit status: 0 when everything
# matched, 77 when the tools are missing (the test is then skipped),
# anything else on a failure.
set -euo pipefail

src=$(cd "$1" && pwd)
readme=$src/README.md

for tool in meson ninja cc pkg-config readelf timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "install_check: $tool not found, skipping"
		exit 77
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 143' TERM        # killed by meson's timeout: still clean up
trap 'exit 130' INT
work=$tmp/work                  # the user's current folder
prefix=$tmp/prefix              # $PREFIX: does not exist yet, as for a user
mkdir "$work" "$tmp/home" "$tmp/tmp"

fail() {
	echo "install_check: FAILED: $*"
	exit 1
}

# A clean shell for the user's commands: only PATH from the caller.
user_env=(env -i PATH="$PATH" HOME="$tmp/home" TMPDIR="$tmp/tmp" LANG=C.UTF-8
	PREFIX="$prefix" WEFT_SRC="$src")

# --- 1. The commands and the program, taken from the README.
awk '
	/^<!-- install-begin/ { on = 1; next }
	/^<!-- install-end/ { on = 0; next }
	on && /^```sh$/ { code = 1; next }
	on && code && /^```$/ { code = 0; next }
	on && code { print }
' "$readme" >"$tmp/install.sh"
grep -q 'meson install' "$tmp/install.sh" ||
	fail "no sh block with 'meson install' between install-begin and install-end in README.md"

awk '
	/^## / { sec = ($0 == "## A complete program") }
	sec && /^```c$/ { code = 1; next }
	sec && code && /^```$/ { exit }
	sec && code { print }
' "$readme" >"$work/prog.c"
grep -q 'int main' "$work/prog.c" ||
	fail "no C block in the README's 'A complete program' section"

echo "--- the README's install commands, run with PREFIX=$prefix WEFT_SRC=$src in $work:"
cat "$tmp/install.sh"

# --- 2. Run them.
if ! (cd "$work" && "${user_env[@]}" timeout -k 10 240 \
	bash -euo pipefail "$tmp/install.sh") >"$tmp/out.txt" 2>&1; then
	tail -40 "$tmp/out.txt"
	fail "the README's install commands did not run through (output above)"
fi
echo "--- their output, without meson's:"
grep -E '^sum = ' "$tmp/out.txt" || true
[ "$(grep -c '^sum = 5050$' "$tmp/out.txt")" -eq 2 ] ||
	fail "expected 'sum = 5050' from both ./prog and ./prog-static"

# --- 3. What the prose says.
for f in include/weft.h include/weft lib/libweft.so.0 lib/libweft.a lib/pkgconfig/weft.pc; do
	[ -e "$prefix/$f" ] || fail "\$PREFIX/$f is missing"
done
echo "files are where the README says: \$PREFIX/include, \$PREFIX/lib, \$PREFIX/lib/pkgconfig"

# Outputs go into variables first: with pipefail, "cmd | grep -q" fails
# when grep exits before cmd has written everything.
dyn=$(readelf -d "$work/prog")
grep -q 'NEEDED.*\[libweft\.so\.0\]' <<<"$dyn" ||
	fail "./prog does not link libweft.so.0"
rpath=$(grep -E 'R(UN)?PATH' <<<"$dyn" || true)
grep -qF "[$prefix/lib]" <<<"$rpath" || fail "./prog has no rpath $prefix/lib"
deps=$(cd "$work" && "${user_env[@]}" ldd ./prog) || fail "ldd ./prog failed"
grep -qF "libweft.so.0 => $prefix/lib/libweft.so.0" <<<"$deps" ||
	fail "./prog does not find libweft.so.0 in \$PREFIX/lib"
echo "./prog: needs libweft.so.0, found through its rpath in \$PREFIX/lib"

dyn=$(readelf -d "$work/prog-static")
if grep -q 'NEEDED.*libweft' <<<"$dyn"; then
	fail "./prog-static still needs libweft.so"
fi
echo "./prog-static: does not need libweft.so"

# The failure the README quotes, without the rpath, and the LD_LIBRARY_PATH
# way around it.
pc_flags=$("${user_env[@]}" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
	pkg-config --cflags --libs weft)
# shellcheck disable=SC2086 # pkg-config output is a list of flags
(cd "$work" && "${user_env[@]}" cc -std=gnu11 prog.c -o prog-norpath $pc_flags)
if (cd "$work" && "${user_env[@]}" timeout 30 ./prog-norpath) >"$tmp/norpath.txt" 2>&1; then
	fail "./prog-norpath ran without an rpath (is weft installed system-wide?)"
fi
grep -q 'libweft.so.0: cannot open shared object file' "$tmp/norpath.txt" ||
	fail "without rpath: expected the loader error, got: $(cat "$tmp/norpath.txt")"
out=$(cd "$work" && "${user_env[@]}" LD_LIBRARY_PATH="$prefix/lib" timeout 30 ./prog-norpath) ||
	fail "LD_LIBRARY_PATH=\$PREFIX/lib ./prog-norpath did not run"
grep -q '^sum = 5050$' <<<"$out" || fail "LD_LIBRARY_PATH=\$PREFIX/lib ./prog-norpath printed: $out"
echo "without rpath: the loader error the README quotes; LD_LIBRARY_PATH fixes it"

# The installed headers compile as C++ too.
cxx=""
for c in c++ g++ clang++; do
	if command -v "$c" >/dev/null 2>&1; then
		cxx=$c
		break
	fi
done
if [ -n "$cxx" ]; then
	printf '%s\n' '#include <weft.h>' \
		'int main() { weft_waker w = weft_noop_waker(); weft_waker_drop(&w); return 0; }' \
		>"$work/t.cpp"
	cxx_flags=$("${user_env[@]}" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags weft)
	# shellcheck disable=SC2086
	"${user_env[@]}" "$cxx" -Wall -Wextra -Werror $cxx_flags -fsyntax-only "$work/t.cpp" ||
		fail "the installed headers do not compile as C++ with $cxx"
	echo "the installed headers compile as C++ with $cxx"
else
	echo "no C++ compiler: C++ check skipped"
fi
echo "install_check: the README's Install section works as written"
