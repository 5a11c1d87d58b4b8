#!/usr/bin/env bash
# tools/run-fuzz.sh [SECONDS]: builds the libFuzzer targets of tests/fuzz with clang++-14 (ASan + UBSan) in
# build-fuzz/ (or $DEEPCNN_FUZZ_BUILD_DIR) and runs each for SECONDS (default 60) on a copy of its seed corpus.
# Fails on any crash, leak, timeout (one input over 10 s), out-of-memory (2 GB), sanitizer report or an exception
# other than deepcnn::error; the reproducer is left in BUILD/fuzz-runs/TARGET/. Prints each target's totals.
# The targets run side by side, one per CPU.
# The random seed is fixed (DEEPCNN_FUZZ_SEED, default 1) so that a CI run's search repeats; set another seed,
# or 0 for one from the clock, to search further.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
seed=${DEEPCNN_FUZZ_SEED:-1}
build=${DEEPCNN_FUZZ_BUILD_DIR:-build-fuzz}
cxx=${DEEPCNN_FUZZ_CXX:-clang++-14}
jobs=$(nproc 2>/dev/null || echo 2)
command -v "$cxx" >/dev/null || { echo "run-fuzz: $cxx not found (tools/install-deps.sh installs clang-14)" >&2; exit 1; }

cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPCNN_FUZZ=ON \
  -DDEEPCNN_BUILD_TESTS=OFF -DDEEPCNN_BUILD_EXAMPLES=OFF -DDEEPCNN_BUILD_BENCHMARKS=OFF -DDEEPCNN_INSTALL=OFF > /dev/null
targets=(fer2013_csv model_file image onnx)
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"

# target and its -max_len: CSV files hold ~8 KB per row, model seeds a few KB, image seeds ~1-2 KB, ONNX seeds ~1-2 KB.
declare -A max_len=([fer2013_csv]=65536 [model_file]=262144 [image]=65536 [onnx]=65536)

# One target's run: its own copy of the seed corpus, log and reproducers in BUILD/fuzz-runs/TARGET/.
fuzz_one() {
  local target=$1 work=$build/fuzz-runs/$1
  rm -rf "$work" && mkdir -p "$work/corpus"
  cp tests/fuzz/corpus/$target/* "$work/corpus/"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$target" "$work/corpus" -max_total_time="$seconds" -max_len="${max_len[$target]}" \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -seed="$seed" -print_final_stats=1 \
    -artifact_prefix="$work/" > "$work/log" 2>&1
}

# The targets run side by side, as many at once as there are CPUs (each is single-threaded): every target still
# gets its full SECONDS, in a fraction of the wall time.
declare -A pid_of=()
failed=()
reap() {
  local target=$1 status=0 work=$build/fuzz-runs/$1
  wait "${pid_of[$target]}" || status=$?
  echo "=== fuzz_$target: ${seconds}s, seed $seed ==="
  grep -E "^#[0-9]+[[:space:]]+DONE" "$work/log" | tail -1 || true
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$work/log" || true
  if ((status != 0)); then
    echo "run-fuzz: fuzz_$target FAILED (exit $status); log $work/log, reproducer:" >&2
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null >&2 || true
    grep -E "ERROR|SUMMARY|runtime error|terminate called|what\(\)" "$work/log" | head -5 >&2 || true
    failed+=("$target")
  fi
}
running=()
for target in "${targets[@]}"; do
  if ((${#running[@]} >= jobs)); then
    reap "${running[0]}"
    running=("${running[@]:1}")
  fi
  fuzz_one "$target" &
  pid_of[$target]=$!
  running+=("$target")
done
for target in "${running[@]}"; do reap "$target"; done
if ((${#failed[@]} > 0)); then
  echo "run-fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-fuzz: all fuzz targets ran ${seconds}s each without a finding"
