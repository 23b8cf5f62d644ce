#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing (as root),
# configures the default preset (warnings are errors), builds, and runs every ctest test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_dependencies.sh
cmake --preset default
cmake --build --preset default
ctest --preset default -j2
