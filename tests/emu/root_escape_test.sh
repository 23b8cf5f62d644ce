#!/usr/bin/env bash
# --root is a boundary: guest/root_escape runs natively inside chroot(ROOT) (the host kernel's
# answer; needs CAP_SYS_CHROOT) and under `mmuemu run --check --root ROOT`; the outputs must be
# identical, and nothing outside ROOT may be read, created, renamed or removed.
# usage: root_escape_test.sh MMUEMU ROOT_ESCAPE_GUEST
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
make_tree() {  # the root, a secret beside it, and links that point out of it
    rm -rf "$work/root" "$work/outside" "$work/made" "$work/moved" "$work/created"
    mkdir -p "$work/root/inside" "$work/outside"
    echo "the secret" >"$work/outside/secret"
    echo "inside the root" >"$work/root/inside/file"
    ln -s "$work/outside/secret" "$work/root/abs_link"
    ln -s ../../../../outside/secret "$work/root/rel_link"
    ln -s "$work/outside" "$work/root/dir_link"
    cp "$guest" "$work/root/root_escape"
}
make_tree
(cd "$work/root" && chroot "$work/root" /root_escape) >"$work/native.out" 2>&1
native=$?
make_tree
secret_mode=$(stat -c %a "$work/outside/secret")
(cd "$work/root" && "$mmuemu" run --check --root "$work/root" "$work/root/root_escape") >"$work/emu.out" 2>"$work/emu.err"
emu=$?
fail=0
[ "$native" = 0 ] || { echo "native run (chroot) failed: $native"; cat "$work/native.out"; fail=1; }
[ "$emu" = "$native" ] || { echo "exit status: mmuemu $emu, native $native"; fail=1; }
if ! cmp -s "$work/native.out" "$work/emu.out"; then
    echo "output differs (native in chroot vs mmuemu --root):"; diff "$work/native.out" "$work/emu.out"; fail=1
fi
[ "$(cat "$work/outside/secret")" = "the secret" ] || { echo "the outside secret was changed"; fail=1; }
[ "$(stat -c %a "$work/outside/secret")" = "$secret_mode" ] || { echo "the outside secret's mode was changed"; fail=1; }
if getfattr_out=$(python3 -c "import os,sys; print(os.listxattr(sys.argv[1]))" "$work/outside/secret" 2>&1) &&
    [ "$getfattr_out" != "[]" ]; then
    echo "the outside secret got extended attributes: $getfattr_out"; fail=1
fi
for f in made moved created; do [ -e "$work/$f" ] && { echo "$f was created outside the root"; fail=1; }; done
[ $fail = 0 ] && echo "identical, nothing outside the root touched: $(wc -l <"$work/emu.out") lines" || cat "$work/emu.err"
exit $fail
