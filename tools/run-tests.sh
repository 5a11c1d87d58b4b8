#!/usr/bin/env bash
# tools/run-tests.sh: the README's test command. Installs the Debian packages, builds and runs every test in
# three configurations: the normal optimised build (with the consumer projects), AddressSanitizer + UBSan on
# the plain-AVX2 kernels (-mno-avx512f: the 6x16 GEMM tile that CPUs without AVX-512 run; the release build
# runs the 8x48 zmm tile where AVX-512F is there), and the portable (non-AVX2) kernels, then runs the libFuzzer
# targets for a bounded time (tools/run-fuzz.sh).
# Build folders: build/, build-sanitize/, build-portable/, build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
bash tools/install-deps.sh

run_config() {
  local dir=$1; shift
  echo "=== $dir: cmake $* ==="
  cmake -S . -B "$dir" -G Ninja "$@"
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "${ctest_args[@]}"
}

ctest_args=()
run_config build -DCMAKE_BUILD_TYPE=Release

# The sanitizer and portable builds skip the consumer projects (they do not depend on the configuration), the
# long end-to-end training run and the program tests labelled long (the SIGKILL / resume loop and the seed net:
# minutes each under ASan); the release build above runs them all, and the shorter program tests, SIGINT resume
# included, run under the sanitizers.
# It compiles at -O1 with line tables only (-g1): the sanitizers still report file and line, and the build takes
# 5 minutes on 2 Zen 3 cores where -O2 -g took 17 (its tests run about 1.5x longer).
ctest_args=(-LE "consumer|e2e|long")
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_config build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DDEEPCNN_SANITIZE=ON -DDEEPCNN_AVX2_ONLY=ON -DDEEPCNN_BUILD_EXAMPLES=ON -DDEEPCNN_BUILD_BENCHMARKS=OFF
run_config build-portable -DCMAKE_BUILD_TYPE=Release -DDEEPCNN_PORTABLE_KERNELS=ON -DDEEPCNN_NATIVE=OFF \
  -DDEEPCNN_BUILD_EXAMPLES=OFF -DDEEPCNN_BUILD_BENCHMARKS=OFF

# Fuzzing (clang, ASan + UBSan): each target for DEEPCNN_FUZZ_SECONDS (default 60) on its seed corpus.
bash tools/run-fuzz.sh "${DEEPCNN_FUZZ_SECONDS:-60}"

echo "run-tests: all three configurations and the fuzz targets passed"
