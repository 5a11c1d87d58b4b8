#!/usr/bin/env bash
# tools/install-deps.sh: installs the exact Debian packages deepcnn builds, tests and benchmarks with.
# Run as root or with sudo available. Extra packages for the peer comparison: pass --peers.
set -euo pipefail

packages=(cmake ninja-build g++ make pkg-config
          libeigen3-dev libstb-dev zlib1g-dev catch2 libbenchmark-dev
          clang-14 libclang-rt-14-dev   # clang++-14 with libFuzzer, ASan and UBSan for tools/run-fuzz.sh
          libopenmpi-dev openmpi-bin)   # deepcnn::mpi and the distributed tests (mpirun on loopback)
if [[ "${1:-}" == "--peers" ]]; then
  packages+=(python3-torch libdnnl-dev python3-numpy)
fi

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
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
