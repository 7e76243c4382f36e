#!/bin/sh
# install_check.sh MODE BUILD_ROOT SOURCE_ROOT CC SANITIZE
# Installs the build into a temporary DESTDIR, then builds and runs
# tests/install_prog.c through pkg-config. MODE: shared, static or cxx
# (the installed headers compile as C++). Exit 77: not possible here.
set -eu
mode=$1 build=$2 src=$3 cc=$4 sanitize=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/root" -name weft.pc | head -n 1)
[ -n "$pc" ] || { echo "no weft.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_LIBDIR="$PKG_CONFIG_PATH"
echo "pkg-config --cflags --libs weft: $(pkg-config --cflags --libs weft)"
san=""
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
libdir=$(dirname "$(find "$tmp/root" -name libweft.so.0 | head -n 1)")
case $mode in
shared)
	$cc -std=gnu11 -Wall -Wextra -Werror $san "$src/tests/install_prog.c" \
		$(pkg-config --cflags --libs weft) -o "$tmp/prog"
	readelf -d "$tmp/prog" | grep -q 'libweft.so.0' || { echo "not linked to libweft.so.0"; exit 1; }
	LD_LIBRARY_PATH="$libdir" "$tmp/prog"
	;;
static)
	libs=$(pkg-config --static --libs weft | sed 's/-lweft\b/-l:libweft.a/')
	$cc -std=gnu11 -Wall -Wextra -Werror $san "$src/tests/install_prog.c" \
		$(pkg-config --cflags weft) $libs -o "$tmp/prog"
	if readelf -d "$tmp/prog" | grep -q 'libweft'; then
		echo "static build still needs libweft.so"; exit 1
	fi
	"$tmp/prog"
	;;
cxx)
	cxx=""
	for c in g++ clang++; do command -v $c >/dev/null 2>&1 && { cxx=$c; break; }; done
	[ -n "$cxx" ] || { echo "no C++ compiler"; exit 77; }
	printf '#include <weft.h>\nint main() { weft_waker w = weft_noop_waker(); weft_waker_drop(&w); return 0; }\n' > "$tmp/t.cpp"
	$cxx -Wall -Wextra -Werror $(pkg-config --cflags weft) "$tmp/t.cpp" -fsyntax-only
	echo "headers compile as C++ with $cxx"
	;;
esac
