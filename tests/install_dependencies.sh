#!/usr/bin/env bash
# Installs the Debian 12 packages mmuemu needs to build and test. As root it installs what is
# missing; otherwise it prints the exact apt-get line and fails.
set -euo pipefail

packages=(
    build-essential cmake pkg-config python3 python3-pip   # toolchain; pip fetches Unicorn 2.1
    libgtest-dev libgmock-dev libbenchmark-dev              # tests and micro-benchmarks
    libcapstone-dev libboost-program-options-dev libzstd-dev
    gdb busybox-static qemu-user zstd bc time strace              # debugger tests, real binaries, bench peers
    golang-go                                               # the Go guest (guest/go)
    libsqlite3-dev zlib1g-dev libssl-dev liblua5.4-dev libpython3.11-dev libexpat1-dev  # guests built from static libraries
    clang-14 libclang-rt-14-dev                             # libFuzzer: the fuzz preset (tests/fuzz)
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "mmuemu: missing Debian packages; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "mmuemu: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
