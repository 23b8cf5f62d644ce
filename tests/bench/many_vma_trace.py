#!/usr/bin/env python3
"""A hand-written trace with N one-page mappings that cannot merge, for replay at scale.

usage: many_vma_trace.py [--sequential] N OUT.trace
                                          writes the trace (N up to 4,000,000); --sequential
                                          visits the pages in address order instead
       many_vma_trace.py --native N       runs the same operations on the host kernel (N at most
                                          about 60,000: vm.max_map_count) and checks that every
                                          VMA count the trace expects is the host's

Mapping i is the page BASE + i * 4096, read-write when i is even and read-only when odd, so
neighbours never merge and the address space holds N VMAs. Then, in a scattered order (a
stride through the indices, so that consecutive lookups land far apart), by i mod 10:
  0: write fault (resolved)       1: read fault (resolved: the zero page)
  2: guard install, its page guarded and a read of it SEGV_MAPERR
  3: write fault on read-only: SEGV_ACCERR
  4: mprotect r--: merges with 3: a private mapping made read-only before it had an anon_vma
     loses VM_ACCOUNT (the charge is dropped), so its flags become those of 3, never writable
  5: munmap: one VMA fewer
  7: mprotect rw-: merges with 6 and 8 (untouched, charged, no anon_vma): two VMAs fewer
  9: mprotect ---: no merge
with `expect AS vmas` after each phase, then everything is unmapped in chunks of 4096 pages.
The counts are computed here; --native checks them against the host kernel.
"""
import sys

BASE = 0x100000000  # 4 GiB: above any small program, far below the mmap area
PAGE = 4096
CHUNK = 4096  # pages per munmap of the final teardown


def prot_of(i):
    return "rw-" if i % 2 == 0 else "r--"


SEQUENTIAL = False


def scattered(n):
    """Every index in [0, n) once, consecutive ones far apart (in order with --sequential)."""
    if SEQUENTIAL:
        return iter(range(n))
    stride = 7919  # a prime: coprime with n unless n is a multiple of it
    while n % stride == 0:
        stride += 2
    return ((k * stride) % n for k in range(n))


def phases(n):
    """(kind, index) operations in order, and the VMA count after each phase."""
    counts = [n]
    ops = [("fault_write", i) if i % 10 == 0 else ("fault_read", i) if i % 10 == 1 else
           ("guard", i) if i % 10 == 2 else ("fault_write_denied", i)
           for i in scattered(n) if i % 10 in (0, 1, 2, 3)]
    changes = []
    vmas = n
    for i in scattered(n):
        r = i % 10
        if r == 4:
            changes.append(("mprotect_ro", i))
            vmas -= 1
        elif r == 5:
            changes.append(("munmap", i))
            vmas -= 1
        elif r == 7:
            changes.append(("mprotect_rw", i))
            # merges with 6 and 8 only when both exist (n may end inside a group)
            vmas -= 2 if i + 1 < n else 1
        elif r == 9:
            changes.append(("mprotect_none", i))
    counts.append(n)
    counts.append(vmas)
    return ops, changes, counts


def write_trace(n, path):
    ops, changes, counts = phases(n)
    with open(path, "w") as f:
        w = f.write
        w(f"mmuemu-trace 1\n# {n:,} one-page mappings that cannot merge (tests/bench/many_vma_trace.py)\nas 1\n")
        for i in range(n):
            a = BASE + i * PAGE
            w(f"mmap 1 {a:#x} 0x1000 {prot_of(i)} PRIVATE|ANONYMOUS|FIXED -> {a:#x}\n")
        w(f"expect 1 vmas {counts[0]}\n")
        for kind, i in ops:
            a = BASE + i * PAGE
            if kind == "fault_write":
                w(f"fault 1 {a:#x} write -> resolved\nexpect 1 present {a:#x}\n")
            elif kind == "fault_read":
                w(f"fault 1 {a:#x} read -> resolved\n")
            elif kind == "guard":
                w(f"madvise 1 {a:#x} 0x1000 GUARD_INSTALL -> 0\nexpect 1 guard {a:#x}\n"
                  f"expect 1 fault {a + 8:#x} read SIGSEGV:SEGV_MAPERR\n")
            else:
                w(f"fault 1 {a:#x} write -> SIGSEGV:SEGV_ACCERR\n")
        w(f"expect 1 vmas {counts[1]}\n")
        for kind, i in changes:
            a = BASE + i * PAGE
            if kind == "munmap":
                w(f"munmap 1 {a:#x} 0x1000 -> 0\nexpect 1 fault {a:#x} read SIGSEGV:SEGV_MAPERR\n")
            else:
                prot = {"mprotect_ro": "r--", "mprotect_rw": "rw-", "mprotect_none": "---"}[kind]
                w(f"mprotect 1 {a:#x} 0x1000 {prot} -> 0\n")
        w(f"expect 1 vmas {counts[2]}\n")
        for first in range(0, n, CHUNK):
            pages = min(CHUNK, n - first)
            w(f"munmap 1 {BASE + first * PAGE:#x} {pages * PAGE:#x} -> 0\n")
        w("expect 1 vmas 0\nexit 1 0\n")


def native_check(n):
    """The same operations on the host kernel; the VMA counts read from /proc/self/maps."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    prot_read, prot_write = 1, 2
    map_private, map_anonymous, map_fixed_noreplace = 0x02, 0x20, 0x100000
    madv_guard_install = 102
    prots = {"rw-": prot_read | prot_write, "r--": prot_read, "---": 0}

    def vmas_in_range():
        end = BASE + n * PAGE
        count = 0
        with open("/proc/self/maps") as maps:
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                count += lo < end and hi > BASE
        return count

    def must(ok, what):
        if not ok:
            sys.exit(f"native: {what} failed: errno {ctypes.get_errno()}")

    ops, changes, counts = phases(n)
    for i in range(n):
        a = BASE + i * PAGE
        got = libc.mmap(a, PAGE, prots[prot_of(i)], map_private | map_anonymous | map_fixed_noreplace, -1, 0)
        must(got == a, f"mmap of page {i}")
    seen = [vmas_in_range()]
    # Faults are made by touching the page; a denied write would kill this process, so the
    # write-denied pages are written in a forked child, which must die of SIGSEGV.
    for kind, i in ops:
        a = BASE + i * PAGE
        if kind == "fault_write":
            ctypes.memset(a, 1, 1)
        elif kind == "fault_read":
            ctypes.string_at(a, 1)
        elif kind == "guard":
            must(libc.madvise(a, PAGE, madv_guard_install) == 0, f"guard install of page {i}")
    import os
    pid = os.fork()
    if pid == 0:
        for kind, i in ops:
            if kind == "fault_write_denied":
                ctypes.memset(BASE + i * PAGE, 1, 1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    must(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV, "the denied write (no SIGSEGV)")
    seen.append(vmas_in_range())
    for kind, i in changes:
        a = BASE + i * PAGE
        if kind == "munmap":
            must(libc.munmap(a, PAGE) == 0, f"munmap of page {i}")
        else:
            prot = {"mprotect_ro": "r--", "mprotect_rw": "rw-", "mprotect_none": "---"}[kind]
            must(libc.mprotect(a, PAGE, prots[prot]) == 0, f"mprotect of page {i}")
    seen.append(vmas_in_range())
    for first in range(0, n, CHUNK):
        must(libc.munmap(BASE + first * PAGE, min(CHUNK, n - first) * PAGE) == 0, "teardown munmap")
    seen.append(vmas_in_range())
    expected = counts + [0]
    print(f"native, {n} mappings: VMA counts after each phase {seen}, the trace expects {expected}")
    return 0 if seen == expected else 1


def main(argv):
    global SEQUENTIAL
    if len(argv) > 1 and argv[1] == "--sequential":
        SEQUENTIAL = True
        argv = argv[:1] + argv[2:]
    if len(argv) == 3 and argv[1] == "--native":
        return native_check(int(argv[2]))
    if len(argv) == 3 and argv[1].isdigit() and 0 < int(argv[1]) <= 4_000_000:
        write_trace(int(argv[1]), argv[2])
        return 0
    sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
