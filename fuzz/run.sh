#!/usr/bin/env bash
# Runs every fuzz target (or those named) for FUZZ_SECONDS each; see README.md.
# Installs cargo-fuzz from crates.io when missing. Exits non-zero if any target found a crash,
# a timeout or an out-of-memory input; libFuzzer leaves each in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
CARGO=${CARGO:-cargo}
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module); the stable
# compiler accepts them when told it is bootstrapping itself.
export RUSTC_BOOTSTRAP=1

if ! $CARGO fuzz --version >/dev/null 2>&1; then
  $CARGO install cargo-fuzz --locked
fi
# libFuzzer itself is C++ that libfuzzer-sys compiles.
command -v c++ >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q g++; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <($CARGO fuzz list)
fi

python3 seed.py
$CARGO fuzz build

failed=()
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  mkdir -p "corpus/$target" "artifacts/$target"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: 2 GB is an OOM.
  if ! $CARGO fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=0 2>"artifacts/$target/log.txt"; then
    tail -n 40 "artifacts/$target/log.txt" >&2
    failed+=("$target")
  else
    grep -E '^(#[0-9]+.*DONE|Done)' "artifacts/$target/log.txt" | tail -n 1 || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}; inputs in fuzz/artifacts/<target>/ (see fuzz/README.md)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${SECONDS_PER_TARGET}s each, no crash"
