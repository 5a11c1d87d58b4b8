#!/usr/bin/env bash
# tools/run-demo.sh: the README's main command. Installs the Debian packages, builds deepcnn's programs
# (Release, default flags: the kernels pick AVX-512, AVX2 or portable code at run time), trains the default net on the FER2013 sample shipped in examples/data/, then
# classifies the sample faces in examples/data/faces/ with the trained model. Extra arguments go to fer_train.
# Each run replaces the previous demo's fer_out/ (--overwrite), unless the arguments hold --resume.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDEEPCNN_BUILD_EXAMPLES=ON >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target fer_train fer_predict

replace=(--overwrite)
for arg in "$@"; do [[ $arg == --resume ]] && replace=(); done
./build/examples/fer_train --out fer_out "${replace[@]}" "$@"
echo
echo "== fer_predict on the sample faces =="
./build/examples/fer_predict --model fer_out/model.dcnn examples/data/faces/*.png examples/data/faces/*.jpg
