#!/usr/bin/env bash
# Runs a command with a scratch root directory holding busybox-static as bin/busybox and the
# applets named as links to it; @ROOT@ in the command's arguments is the root's path. The root is
# removed afterwards; the command's exit status is the script's.
# usage: in_busybox_root.sh BUSYBOX "APPLET..." [FILE=CONTENT...] -- COMMAND ARGS...
set -u
busybox=$1 applets=$2
shift 2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for a in $applets; do ln -s busybox "$root/bin/$a"; done
while [ $# -gt 0 ] && [ "$1" != "--" ]; do  # FILE=CONTENT: a file in the root
    printf '%s\n' "${1#*=}" >"$root/${1%%=*}"
    shift
done
shift
args=()
for arg in "$@"; do args+=("${arg//@ROOT@/$root}"); done
"${args[@]}"
