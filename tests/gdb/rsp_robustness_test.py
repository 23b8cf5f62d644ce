#!/usr/bin/env python3
"""Raw-socket robustness test of the GDB stub: malformed packets, bad checksums, oversized and
unknown packets, a second client while one is attached, a client that disconnects (the guest
is killed, or with --gdb-wait the stub waits for another client), and ^C while the guest runs.
The stub must survive and answer; nothing may crash or hang.
usage: rsp_robustness_test.py MMUEMU GUEST LONG_RUNNING_GUEST"""
import socket
import subprocess
import sys
import time

MMUEMU, GUEST, LONG_GUEST = sys.argv[1], sys.argv[2], sys.argv[3]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def packet(body: bytes) -> bytes:
    return b"$" + body + b"#" + b"%02x" % (sum(body) & 0xFF)


def start(extra=(), guest=None, args=()):
    port = free_port()
    proc = subprocess.Popen([MMUEMU, "run", "--gdb", str(port), *extra, guest or GUEST, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            return proc, socket.create_connection(("127.0.0.1", port), timeout=5), port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("stub did not listen")


def recv_some(sock, want=1, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    return data


def request(sock, body: bytes) -> bytes:
    """Sends a packet and returns the reply body (acks stripped)."""
    sock.sendall(packet(body))
    data = b""
    deadline = time.time() + 5
    while time.time() < deadline:
        data += recv_some(sock, 1, 1.0)
        start = data.find(b"$")
        end = data.find(b"#", start)
        if start >= 0 and end >= 0 and len(data) >= end + 3:
            return data[start + 1:end]
    return None


proc, sock, port = start()
sock.sendall(b"$?#00")  # wrong checksum
check("bad checksum is answered with '-'", recv_some(sock).startswith(b"-"))
check("a valid packet still works after it", (request(sock, b"?") or b"").startswith(b"T05"))
sock.sendall(b"$" + b"A" * 20000 + b"#00")
check("oversized packet is refused with '-'", b"-" in recv_some(sock, 1, 2.0))
check("unknown packet gets the empty reply", request(sock, b"qNoSuchThing") == b"")
check("malformed memory read is an error", request(sock, b"mzz,10") == b"E01")
check("malformed breakpoint is an error", request(sock, b"Z0,nothex") == b"E01")
check("registers are readable", len(request(sock, b"g") or b"") > 100)
check("memory at address 0 is an error, not a crash", request(sock, b"m0,8") == b"E14")
second = socket.create_connection(("127.0.0.1", port), timeout=5)
reply = recv_some(second, 1, 3.0)
check("a second client is refused and closed", reply.startswith(b"$E01"), repr(reply))
second.close()
check("the first client is still served", (request(sock, b"?") or b"").startswith(b"T05"))
sock.close()  # disconnect without detaching: the guest is killed
try:
    proc.wait(timeout=10)
    check("a client that disconnects ends the guest (SIGKILL)", proc.returncode == -9, str(proc.returncode))
except subprocess.TimeoutExpired:
    proc.kill()
    check("a client that disconnects ends the guest", False, "(hung)")

proc, sock, port = start(["--gdb-wait"])
check("--gdb-wait: first client served", (request(sock, b"?") or b"").startswith(b"T05"))
sock.close()
time.sleep(0.3)
check("--gdb-wait: the guest waits for another client", proc.poll() is None)
sock = socket.create_connection(("127.0.0.1", port), timeout=5)
check("--gdb-wait: a new client is served", (request(sock, b"?") or b"").startswith(b"T05"))
request(sock, b"D")  # detach: the guest runs to its end
sock.close()
try:
    proc.wait(timeout=30)
    check("after detach the guest runs to its own exit", proc.returncode == 0, str(proc.returncode))
except subprocess.TimeoutExpired:
    proc.kill()
    check("after detach the guest runs to its own exit", False, "(hung)")

# ^C while the guest runs: the stub stops it and reports SIGINT; the guest can be killed then.
proc, sock, port = start(guest=LONG_GUEST, args=["64", "1000"])
check("long-running guest: stopped at start", (request(sock, b"?") or b"").startswith(b"T05"))
sock.sendall(packet(b"c"))
time.sleep(0.5)
sock.sendall(b"\x03")
reply, deadline = b"", time.time() + 10
while b"$T" not in reply and time.time() < deadline:  # past the '+' that acknowledged "c"
    reply += recv_some(sock, 1, 1.0)
check("^C stops the running guest with SIGINT", b"$T02" in reply, repr(reply[:40]))
check("registers readable after ^C", len(request(sock, b"g") or b"") > 100)
sock.sendall(packet(b"k"))
try:
    proc.wait(timeout=10)
    check("kill after ^C ends the guest", proc.returncode == -9, str(proc.returncode))
except subprocess.TimeoutExpired:
    proc.kill()
    check("kill after ^C ends the guest", False, "(hung)")

# Hostile resume and watchpoint packets (each once crashed or hung the stub): refused with E01.
proc, sock, port = start()
check("'vCont;' with no action is refused", request(sock, b"vCont;") == b"E01")
check("'vCont;x' (unknown action) is refused", request(sock, b"vCont;x") == b"E01")
check("a signal number beyond Linux's is refused", request(sock, b"C80000000") == b"E01")
check("a huge vCont signal is refused", request(sock, b"vCont;Cffffffff") == b"E01")
check("a watchpoint over the whole user space is refused", request(sock, b"Z2,0,7fffffffffff") == b"E01")
check("a zero-length watchpoint is refused", request(sock, b"Z2,400000,0") == b"E01")
# Found by rsp_packet_fuzzer (tests/fuzz/regressions/rsp_packet_fuzzer/bare_H_packet_threw_out_of_range):
# a bare 'H' threw std::out_of_range out of the stub and ended mmuemu.
check("a bare 'H' is refused", request(sock, b"H") == b"E01")
check("'Hx1' (neither Hg nor Hc) is refused", request(sock, b"Hx1") == b"E01")
check("the stub still answers", (request(sock, b"?") or b"").startswith(b"T05"))
sock.sendall(packet(b"k"))
proc.wait(timeout=10)

# What a client sends while the guest runs is bounded: 64 MiB sent during a run do not grow
# mmuemu's memory by more than a few MiB (the rest waits in the socket).
proc, sock, port = start(guest=LONG_GUEST, args=["64", "1000"])
request(sock, b"?")
sock.sendall(packet(b"c"))
time.sleep(0.3)
sock.setblocking(False)
sent, chunk, deadline = 0, b"x" * 65536, time.time() + 5
while sent < (64 << 20) and time.time() < deadline:
    try:
        sent += sock.send(chunk)
    except BlockingIOError:
        time.sleep(0.01)
sock.setblocking(True)
with open(f"/proc/{proc.pid}/status") as f:
    rss_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
check("input sent during a run is bounded", sent < (64 << 20) or rss_kb < 200 * 1024,
      f"sent {sent >> 20} MiB, RSS {rss_kb >> 10} MiB")
proc.kill()
proc.wait(timeout=10)

# SIGINT and SIGTERM end mmuemu while it waits for a client.
for sig, name in ((2, "SIGINT"), (15, "SIGTERM")):
    waiting = subprocess.Popen([MMUEMU, "run", "--gdb", str(free_port()), GUEST],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    waiting.send_signal(sig)
    try:
        waiting.wait(timeout=10)
        check(f"{name} ends mmuemu while it waits for gdb", waiting.returncode == -sig, str(waiting.returncode))
    except subprocess.TimeoutExpired:
        waiting.kill()
        check(f"{name} ends mmuemu while it waits for gdb", False, "(hung)")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
