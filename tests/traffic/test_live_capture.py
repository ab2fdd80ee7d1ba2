"""Live capture: a shared capture replayed over a veth pair inside a network namespace made here, captured
by `weft flows --interface`, gives the flows `weft flows` reads from the file (same conversations, same
packet and byte counts; only the times differ). Skipped, with one line saying why, where namespaces
cannot be made (not root, no iproute2, a container without the permission).

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py).
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import weft_testlib as wt  # noqa: E402

DATA = os.environ.get("WEFT_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
CAPTURE = os.path.join(DATA, "ndpi", "pcap", "teredo.pcap")  # Ethernet, 24 frames, none over 1514 bytes

# Sends every frame of a classic Ethernet pcap out of an interface, in order (AF_PACKET, raw).
REPLAY = r"""
import socket, struct, sys, time
iface, path = sys.argv[1], sys.argv[2]
b = open(path, 'rb').read()
le = b[:4] == b'\xd4\xc3\xb2\xa1' or b[:4] == b'\x4d\x3c\xb2\xa1'
e = '<' if le else '>'
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
off = 24
while off + 16 <= len(b):
    _, _, cl, _ = struct.unpack(e + 'IIII', b[off:off + 16])
    s.send(b[off + 16:off + 16 + cl])
    off += 16 + cl
    time.sleep(0.002)
"""


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def netns():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("live capture test: needs root and iproute2 to make a network namespace")
    name = f"weft-live-{os.getpid()}"
    r = sh("ip", "netns", "add", name, check=False)
    if r.returncode != 0:
        pytest.skip(f"live capture test: network namespaces not permitted here ({r.stderr.strip()})")
    try:
        ex = ("ip", "netns", "exec", name)
        sh(*ex, "ip", "link", "add", "wa", "type", "veth", "peer", "name", "wb")
        # no IPv6 on the pair: the kernel's own router and neighbour solicitations would be flows too
        sh(*ex, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", check=False)
        sh(*ex, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1", check=False)
        for dev in ("wa", "wb"):
            sh(*ex, "sysctl", "-q", "-w", f"net.ipv6.conf.{dev}.disable_ipv6=1", check=False)
            sh(*ex, "ip", "link", "set", dev, "up")
        yield ex
    finally:
        sh("ip", "netns", "del", name, check=False)


def flows_of(text):
    key = ("src", "dst", "sport", "dport", "proto", "fwd_packets", "bwd_packets", "fwd_bytes", "bwd_bytes")
    return sorted(tuple(row[k] for k in key) for row in csv.DictReader(io.StringIO(text)))


def test_replayed_capture_gives_the_files_flows(netns, tmp_path):
    if not os.path.exists(CAPTURE):
        pytest.skip(f"shared captures not found at {DATA}")
    weft = wt.require_weft()
    offline = subprocess.run([weft, "flows", CAPTURE, "-o", "-"], capture_output=True, text=True, timeout=60)
    assert offline.returncode == 0, offline.stderr
    out = tmp_path / "live.csv"
    # IPv4 only: whatever else the namespace says (nothing, with IPv6 off) stays out
    cap = subprocess.Popen([*netns, weft, "flows", "--interface", "wa", "--filter", "ip", "--count", "24",
                            "--duration", "20", "-o", str(out), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the capture reports once a second once it runs: wait for the first line before sending
    first = cap.stderr.readline()
    assert "packets" in first, first
    sh(*netns, sys.executable, "-c", REPLAY, "wb", CAPTURE)
    stdout, stderr = cap.communicate(timeout=40)
    assert cap.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["read"]["records"] == 24
    live = out.read_text()
    assert flows_of(live) == flows_of(offline.stdout)
    assert len(flows_of(live)) >= 5


def test_live_errors_are_clear(tmp_path):
    weft = wt.require_weft()
    r = subprocess.run([weft, "flows", "--interface", "weft-no-such0", "-o", str(tmp_path / "x.csv")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "interface weft-no-such0" in r.stderr
    r = subprocess.run([weft, "flows", "--interface", "lo", "x.pcap", "-o", "-"], capture_output=True, text=True)
    assert r.returncode == 2 and "no input files" in r.stderr
    r = subprocess.run([weft, "flows", "x.pcap", "--count", "3", "-o", "-"], capture_output=True, text=True)
    assert r.returncode == 2 and "--interface" in r.stderr
    if os.geteuid() == 0:
        r = subprocess.run([weft, "flows", "--interface", "lo", "--filter", "tcp and and", "-o",
                            str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "--filter 'tcp and and'" in r.stderr
