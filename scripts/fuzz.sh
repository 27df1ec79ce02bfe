#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS each (default 60) and fails
# when one finds a crash; crashes are kept in fuzz/artifacts/<target>/ to reproduce with
# `cargo +nightly fuzz run <target> <file>`. Needs the nightly toolchain (libFuzzer's sanitizer
# flags) and cargo-fuzz, which it installs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "make fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
for t in $targets; do
    echo "== fuzzing $t for ${seconds}s"
    mkdir -p "fuzz/corpus/$t"
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=4096
done
echo "fuzzing found nothing in ${seconds}s per target"
