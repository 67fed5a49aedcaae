#!/bin/bash
# Runs the whole test suite: the README's test command and CI's.
#  1. installs the Debian packages (idempotent),
#  2. builds from scratch, warnings fatal: Release out of the tree (its
#     binary checks every example from /), without BPF (process attribution
#     falls back), normal (build/), ASan+UBSan (build-asan/) and Debug,
#  3. runs under both builds: CTest (C unit tests), busted (Lua specs),
#     the kernel tests (each in its own network namespace),
#  4. builds with ThreadSanitizer (build-tsan/) and runs the C unit tests
#     and the worker loops' kernel test under it,
#  5. builds the libFuzzer targets with clang and runs each briefly,
#  6. builds the Debian package from a clean copy of the tree (lintian: no
#     errors), installs it, runs it as the service would (the nurs-lua
#     user with the unit's capabilities: the conntrack, NFLOG and NFQUEUE
#     kernel tests), purges it and checks nothing is left,
#  7. prints one line: "N passed, N failed".
# The ASan, TSan, fuzz and Debug trees are built at the lowest priority
# while the normal build's tests run.
# Kernel tests need root (they make namespaces and nft rules).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-6}
passed=0
failed=0
failures=()

START=$SECONDS
# Each step says when it began, so a slow CI run shows where its time went.
step() { echo; echo "=== $* (at $((SECONDS - START)) s)"; }
count() { # count NAME EXIT_CODE
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}
# Adds the pass/fail counts of a TAP-ish or CTest log.
count_ctest() { # count_ctest LOG
    local line p t
    line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$1" | tail -1)
    if [ -z "$line" ]; then failed=$((failed + 1)); failures+=("ctest: no summary"); return; fi
    t=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
    passed=$((passed + t - f)); failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("ctest ($2): $f failed")
}
count_busted() { # count_busted LOG NAME RC
    local line s f e
    line=$(grep -E '[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$1" | tail -1)
    if [ -z "$line" ]; then failed=$((failed + 1)); failures+=("busted ($2): no summary"); return; fi
    s=$(sed -E 's/^[^0-9]*([0-9]+) success.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$line")
    e=$(sed -E 's/.* ([0-9]+) errors?.*/\1/' <<<"$line")
    passed=$((passed + s)); failed=$((failed + f + e))
    [ $((f + e)) -eq 0 ] && [ "$3" -eq 0 ] || failures+=("busted ($2)")
}

. tests/example-args.sh
# The sanitizer, fuzz and Debug trees are built in the background at the
# lowest priority while the normal build's tests run (those mostly wait on
# the kernel and sockets); each step then waits for its tree.
build_tree() { # build_tree NAME DIR TARGET CMAKE_FLAGS...: leaves NAME's exit code in $LOGS
    local name=$1 dir=$2 target=$3; shift 3
    rm -rf "$dir"
    { cmake -S . -B "$dir" "$@" >/dev/null && nice -n 19 cmake --build "$dir" -j"$JOBS" --target "$target"; } \
        >"$LOGS/build-$name.log" 2>&1
    echo $? >"$LOGS/build-$name.rc"
}
wait_tree() { # wait_tree NAME: 0 once NAME's tree is built, else its log's tail and 1
    local i
    for ((i = 0; i < 36000; i++)); do [ -s "$LOGS/build-$1.rc" ] && break; sleep 0.1; done
    tail -3 "$LOGS/build-$1.log"
    [ "$(cat "$LOGS/build-$1.rc" 2>/dev/null)" = 0 ] && return 0
    tail -40 "$LOGS/build-$1.log"
    return 1
}
BACKGROUND_BUILDS=
DEBUG_TREE=$(mktemp -d /var/tmp/nurs-debug.XXXXXX)

LOGS=$(mktemp -d /tmp/nurs-ci.XXXXXX)
step "dependencies"
scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

# A Release build out of the tree, as a packager makes it: its binary must
# find its own modules and check every example from anywhere.
step "build (release, out of tree)"
RELEASE=$(mktemp -d /var/tmp/nurs-release.XXXXXX)
if cmake -S . -B "$RELEASE" -DCMAKE_BUILD_TYPE=Release -DNURS_WERROR=ON \
    -DCMAKE_INSTALL_PREFIX="$RELEASE/inst" >/dev/null &&
    cmake --build "$RELEASE" -j"$JOBS" 2>&1 | tail -3 && [ -x "$RELEASE/nurs-lua" ]; then
    count "build release" 0
    for ex in scripts/examples/*.lua; do
        read -ra args <<<"$(example_args "$ex")"
        (cd / && "$RELEASE/nurs-lua" --check "$ROOT/$ex" "${args[@]}" >/dev/null 2>"$LOGS/check.log")
        rc=$?
        [ $rc -eq 0 ] || { echo "FAIL --check $ex from /"; cat "$LOGS/check.log"; }
        count "release --check $(basename "$ex")" $rc
    done
    # cmake --install: a tree that runs every example and the service's
    # script, with its man pages.
    rc=0
    cmake --install "$RELEASE" >"$LOGS/install.log" 2>&1 || rc=1
    inst=$RELEASE/inst
    for f in share/man/man8/nurs-lua.8 share/man/man7/nurs-lua-lua.7 share/doc/nurs-lua/lua-api.md \
        lib/systemd/system/nurs-lua.service etc/nurs-lua/nurs-lua.lua; do
        [ -f "$inst/$f" ] || { echo "FAIL cmake --install: no $f"; rc=1; }
    done
    for ex in "$inst"/share/nurs-lua/examples/*.lua "$inst/etc/nurs-lua/nurs-lua.lua"; do
        read -ra args <<<"$(example_args "$ex")"
        (cd / && "$inst/bin/nurs-lua" --check "$ex" "${args[@]}" >/dev/null 2>"$LOGS/check.log") ||
            { echo "FAIL installed --check $ex"; cat "$LOGS/check.log"; rc=1; }
    done
    count "cmake --install runs every example" $rc
    (cd "$RELEASE" && ctest -j"$JOBS") >"$LOGS/ctest-release.log" 2>&1
    tail -3 "$LOGS/ctest-release.log"
    count_ctest "$LOGS/ctest-release.log" release
else
    count "build release" 1
fi
rm -rf "$RELEASE"

# Without the BPF programs (a machine without clang, bpftool or libbpf):
# it builds, and process attribution falls back to sock_diag and says why.
step "build (no BPF)"
NOBPF=$(mktemp -d /var/tmp/nurs-nobpf.XXXXXX)
if cmake -S . -B "$NOBPF" -DNURS_BPF=OFF -DNURS_WERROR=ON >/dev/null &&
    cmake --build "$NOBPF" -j"$JOBS" --target nurs-lua 2>&1 | tail -3 && [ -x "$NOBPF/nurs-lua" ]; then
    out=$(printf 'require("nurs").conntrack({ events = { "destroy" }, process = "bpf" }, function() end)\n' |
        unshare -n "$NOBPF/nurs-lua" /dev/stdin 2>&1)
    grep -q "BPF: built without BPF support" <<<"$out"
    rc=$?
    [ $rc -eq 0 ] || echo "FAIL no-BPF build: process = \"bpf\" did not say why: $out"
    count "build without BPF" $rc
else
    count "build without BPF" 1
fi
rm -rf "$NOBPF"

for variant in normal asan; do
    dir=build; flags=(-DNURS_WERROR=ON)
    [ $variant = asan ] && dir=build-asan
    step "build ($variant)"
    built=0
    if [ $variant = normal ]; then
        rm -rf "$dir"
        { cmake -S . -B "$dir" "${flags[@]}" >/dev/null && cmake --build "$dir" -j"$JOBS" 2>&1 | tail -20; } ||
            built=1
        if [ -z "$BACKGROUND_BUILDS" ]; then
            BACKGROUND_BUILDS=1
            {
                build_tree asan build-asan all -DNURS_WERROR=ON -DNURS_SANITIZE=ON -DCMAKE_C_COMPILER=clang
                build_tree tsan build-tsan all -DNURS_TSAN=ON -DNURS_WERROR=ON -DCMAKE_C_COMPILER=clang
                build_tree fuzz build-fuzz fuzzers -DNURS_FUZZ=ON -DNURS_WERROR=ON -DCMAKE_C_COMPILER=clang
                # Without optimisation GCC warns differently (-Wformat-truncation).
                build_tree debug "$DEBUG_TREE" all -DCMAKE_BUILD_TYPE=Debug -DNURS_WERROR=ON
            } &
        fi
    else
        wait_tree asan || built=1
    fi
    if [ $built -ne 0 ] || [ ! -x "$dir/nurs-lua" ]; then
        count "build $variant" 1
        continue
    fi
    count "build $variant" 0
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

    step "ctest ($variant)"
    (cd "$dir" && ctest --output-on-failure -j"$JOBS") >"$LOGS/ctest-$variant.log" 2>&1
    tail -5 "$LOGS/ctest-$variant.log"
    grep -B2 -A30 'Failed\|\*\*\*' "$LOGS/ctest-$variant.log" | head -80
    count_ctest "$LOGS/ctest-$variant.log" "$variant"

    step "busted ($variant)"
    NURS="$ROOT/$dir/nurs-lua" timeout 600 "$ROOT/$dir/nurs-lua" --load-budget 0 /usr/bin/busted -o utfTerminal \
        "$ROOT/tests/lua" >"$LOGS/busted-$variant.log" 2>&1
    rc=$?
    tail -30 "$LOGS/busted-$variant.log"
    count_busted "$LOGS/busted-$variant.log" "$variant" $rc

    step "kernel tests ($variant)"
    for t in tests/kernel/*.sh; do
        # Under ASan, tests whose C paths others already drive (they test
        # third-party tools, timing or the same code with another load)
        # run in the normal build only, to keep CI within its time.
        case "$variant:$(basename "$t")" in
            asan:nflog-stream.sh | asan:export-reload.sh | asan:kafka-broker-down.sh | \
                asan:process-sockdiag.sh | asan:pmacct.sh | asan:metrics-prometheus.sh)
                continue ;;
        esac
        t0=$SECONDS
        NURS="$ROOT/$dir/nurs-lua" timeout 300 bash "$t" >"$LOGS/k.log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then echo "PASS $t ($((SECONDS - t0)) s)"; else echo "FAIL $t (exit $rc)"; tail -40 "$LOGS/k.log"; fi
        count "kernel $variant $(basename "$t")" $rc
    done
done

# Threads run Lua only with worker loops: TSan watches their test and the
# unit tests (test_shared hammers the shared table from four threads).
# Not test_budget: TSan delivers a signal only when the thread calls into
# libc, so its watchdog cannot stop a pure Lua loop there.
step "build (tsan)"
if wait_tree tsan && [ -x build-tsan/nurs-lua ]; then
    count "build tsan" 0
    export TSAN_OPTIONS=halt_on_error=1:exitcode=66
    step "ctest and workers.sh (tsan)"
    (cd build-tsan && ctest --output-on-failure -j"$JOBS" -E '^budget$') >"$LOGS/ctest-tsan.log" 2>&1
    tail -3 "$LOGS/ctest-tsan.log"
    count_ctest "$LOGS/ctest-tsan.log" tsan
    NURS="$ROOT/build-tsan/nurs-lua" timeout 300 bash tests/kernel/workers.sh >"$LOGS/k.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then echo "PASS workers.sh (tsan)"; else echo "FAIL workers.sh (tsan, exit $rc)"; tail -60 "$LOGS/k.log"; fi
    count "kernel tsan workers.sh" $rc
else
    count "build tsan" 1
fi

step "fuzz (clang libFuzzer, ${FUZZ_SECONDS}s each)"
if wait_tree fuzz; then
    # One target per core at a time: each is a single process.
    fuzz_one() { # fuzz_one TARGET: runs it, leaves its exit code beside its log
        local name corpus seeds
        name=$(basename "$1")
        corpus="$LOGS/corpus-$name"; mkdir -p "$corpus"
        seeds="fuzz/seeds/$name"
        [ -d "$seeds" ] && cp "$seeds"/* "$corpus"/ 2>/dev/null
        "$1" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 "$corpus" >"$LOGS/$name.log" 2>&1
        echo $? >"$LOGS/$name.rc"
    }
    targets=()
    for f in build-fuzz/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("$f"); done
    [ ${#targets[@]} -gt 0 ] || count "fuzz: no target was built" 1
    for ((i = 0; i < ${#targets[@]}; i += JOBS)); do
        running=()
        for f in "${targets[@]:i:JOBS}"; do fuzz_one "$f" & running+=($!); done
        wait "${running[@]}"
    done
    for f in "${targets[@]}"; do
        name=$(basename "$f")
        rc=$(cat "$LOGS/$name.rc" 2>/dev/null || echo 1)
        if [ "$rc" -eq 0 ]; then echo "PASS $name: $(grep -E '^#[0-9]+.*DONE' "$LOGS/$name.log" | tail -1)"; else echo "FAIL $name"; tail -40 "$LOGS/$name.log"; fi
        count "fuzz $name" "$rc"
    done
else
    count "fuzz build" 1
fi

step "build (debug, warnings fatal)"
wait_tree debug
count "build debug" $?
rm -rf "$DEBUG_TREE"

step "Debian package: build, lintian, install, run as the service user, purge"
PKG=$(mktemp -d /var/tmp/nurs-pkg.XXXXXX)
pkg_start=$SECONDS
bash tests/package/build.sh "$PKG" >"$LOGS/package-build.log" 2>&1
rc=$?
grep -E "^(ok|FAIL|[EW]):" "$LOGS/package-build.log"
count "package build + lintian" $rc
echo "package build + lintian: $((SECONDS - pkg_start)) s"
if [ $rc -eq 0 ]; then
    timeout 900 bash tests/package/roundtrip.sh "$PKG"/nurs-lua_*.deb bash tests/package/as-service-user.sh \
        >"$LOGS/package-roundtrip.log" 2>&1
    rc=$?
    grep -E '^(ok|FAIL|PASS|WARNING)' "$LOGS/package-roundtrip.log"
    [ $rc -eq 0 ] || tail -40 "$LOGS/package-roundtrip.log"
    while read -r verdict _ _ name; do
        count "as nurs-lua: $name" "$([ "$verdict" = PASS ] && echo 0 || echo 1)"
    done < <(grep -E '^(PASS|FAIL) as ' "$LOGS/package-roundtrip.log")
    count "package install, run, purge" $rc
fi
rm -rf "$PKG"
echo "package step: $((SECONDS - pkg_start)) s"

echo
if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "logs in $LOGS"
echo "whole run: $((SECONDS - START)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
