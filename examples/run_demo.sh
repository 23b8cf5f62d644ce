#!/usr/bin/env bash
# The first thing to run: installs what is missing (as root), builds, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_dependencies.sh
cmake --preset default >/dev/null
cmake --build --preset default --target mmu_walkthrough >/dev/null
./build/default/examples/mmu_walkthrough
