#!/bin/bash
# Builds the Debian package as a packager would, from a clean copy of the
# tree (the files git tracks or would track: no build directories), with
# dpkg-buildpackage -us -uc -b, then runs lintian on it: no error allowed;
# warnings are printed. Without the unit tests unless NURS_PKG_CHECK=1.
#   tests/package/build.sh OUTDIR   -> OUTDIR/nurs-lua_*.deb
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: build.sh OUTDIR}
mkdir -p "$OUT"
WORK=$(mktemp -d /var/tmp/nurs-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

mkdir "$WORK/src"
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$WORK/src"
# NURS_PKG_CHECK=1 runs the unit tests in the package build too; CI has
# just run them on a Release build of the same tree, so it leaves them out
# (nocheck: not built either) to save half of the build.
[ "${NURS_PKG_CHECK:-0}" = 1 ] || export DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}"
start=$SECONDS
if ! (cd "$WORK/src" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log"
    echo "FAIL: dpkg-buildpackage" >&2
    exit 1
fi
echo "ok: dpkg-buildpackage in $((SECONDS - start)) s"
grep -E ': warning:' "$WORK/build.log" | head -20 || true # the compiler's, with the distribution's flags

lintian --pedantic "$WORK"/nurs-lua_*.changes >"$WORK/lintian.log" 2>&1 || true
grep -E '^[EWIPX]: ' "$WORK/lintian.log" || true
if grep -q '^E: ' "$WORK/lintian.log"; then
    echo "FAIL: lintian reports errors" >&2
    exit 1
fi
echo "ok: lintian: no errors, $(grep -c '^W: ' "$WORK/lintian.log" || true) warnings"
cp "$WORK"/nurs-lua_*.deb "$OUT"/
