#!/usr/bin/env bash
# tools/install-deps.sh: installs the exact Debian packages deepcnn builds, tests and benchmarks with.
# Run as root or with sudo available. Extra packages for the peer comparison: pass --peers.
# The ONNX consumers the tests check exported models with (docs/onnx.md): Debian's python3-onnx and python3-opencv,
# and npm's onnxruntime-node (its CPU runtime ships in the package; --ignore-scripts skips its install script, which
# only fetches extras) in tools/peers/node_modules, which git ignores.
set -euo pipefail

packages=(cmake ninja-build g++ make pkg-config
          libeigen3-dev libstb-dev zlib1g-dev catch2 libbenchmark-dev
          clang-14 libclang-rt-14-dev   # clang++-14 with libFuzzer, ASan and UBSan for tools/run-fuzz.sh
          libopenmpi-dev openmpi-bin    # deepcnn::mpi and the distributed tests (mpirun on loopback)
          python3-onnx python3-opencv)  # ONNX consumers (tests/onnx.cmake), with node and npm below
if [[ "${1:-}" == "--peers" ]]; then
  packages+=(python3-torch libdnnl-dev python3-numpy)
fi

# Debian's nodejs and npm, unless a node with its own npm (NodeSource's, say) is installed already.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

onnxruntime_node=onnxruntime-node@1.31.1
peers_dir=$(cd "$(dirname "$0")" && pwd)/peers
if [[ -f $peers_dir/node_modules/onnxruntime-node/package.json ]]; then
  echo "install-deps: $onnxruntime_node already in tools/peers/node_modules"
else
  echo "install-deps: npm install --ignore-scripts $onnxruntime_node into tools/peers"
  npm install --ignore-scripts --no-save --no-audit --no-fund --prefix "$peers_dir" "$onnxruntime_node" ||
    echo "install-deps: WARNING: npm could not install $onnxruntime_node; the test onnx_onnxruntime will be skipped" >&2
fi
