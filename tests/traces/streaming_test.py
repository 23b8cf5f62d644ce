#!/usr/bin/env python3
"""A 10-million-event trace is replayed in constant memory: generated straight into a compressed
file, replayed, and the replayer's peak RSS must stay far below the trace's size.
usage: streaming_test.py MMUEMU"""
import os
import resource
import subprocess
import sys
import tempfile

EVENTS = 10_000_000
mmuemu = sys.argv[1]
with tempfile.TemporaryDirectory() as work:
    path = os.path.join(work, "big.trace.zst")
    with open(path, "wb") as out:
        zstd = subprocess.Popen(["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE, stdout=out)
        zstd.stdin.write(b"mmuemu-trace 1\nas 1\nmmap 1 0x10000000 0x100000 rw- PRIVATE|ANONYMOUS|FIXED|POPULATE\n")
        chunk = b"".join(b"access 1 0x%x 8 read\n" % (0x10000000 + (i % 256) * 4096 + (i % 64) * 8)
                         for i in range(100_000))
        text_bytes = 0
        for _ in range(EVENTS // 100_000):
            zstd.stdin.write(chunk)
            text_bytes += len(chunk)
        zstd.stdin.close()
        zstd.wait()
    result = subprocess.run([mmuemu, "replay", path], capture_output=True, text=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(result.stdout.strip(), result.stderr.strip())
    print(f"trace: {text_bytes >> 20} MiB of text, {os.path.getsize(path) >> 10} KiB compressed; "
          f"replay peak RSS {peak_kib >> 10} MiB")
    ok = result.returncode == 0 and f"{EVENTS + 3} events replayed" in result.stdout and peak_kib < 64 * 1024
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    sys.exit(0 if ok else 1)
