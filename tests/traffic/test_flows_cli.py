"""End-to-end tests of `weft flows`: a capture and a Zeek log written here byte by byte, the flow CSV
read back with the csv module, the summary (--json), labels from an nDPI .out file, exit statuses.

Expected values are worked out by hand from the packets written below, never taken from weft.
The weft binary: $WEFT_BIN, else build-traffic-flows/weft, build/weft.
"""
import csv
import json
import os
import struct
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def weft_bin():
    if os.environ.get("WEFT_BIN"):
        return os.environ["WEFT_BIN"]
    for d in ("build-traffic-flows", "build"):
        p = os.path.join(REPO, d, "weft")
        if os.path.exists(p):
            return p
    pytest.skip("no weft binary (set WEFT_BIN)")


def run(*args):
    return subprocess.run([weft_bin(), "flows", *args], capture_output=True, text=True, timeout=120)


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def tcp_frame(src, dst, sp, dp, flags, payload=0):
    tcp = struct.pack(">HHIIBBHHH", sp, dp, 1, 0, 0x50, flags, 65535, 0, 0) + bytes(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip4(src), ip4(dst))
    return bytes(6) + bytes(6) + b"\x08\x00" + ip + tcp


def pcap(frames, linktype=1):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for sec, usec, fr in frames:
        out += struct.pack("<IIII", sec, usec, len(fr), len(fr)) + fr
    return out


SYN, FIN, RST, PSH, ACK = 2, 1, 4, 8, 16
C, S = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def capture(tmp_path):
    frames = [
        (100, 0, tcp_frame(C, S, 40000, 80, SYN)),
        (100, 100000, tcp_frame(S, C, 80, 40000, SYN | ACK)),
        (100, 200000, tcp_frame(C, S, 40000, 80, ACK)),
        (100, 300000, tcp_frame(C, S, 40000, 80, PSH | ACK, 100)),
        (100, 500000, tcp_frame(S, C, 80, 40000, PSH | ACK, 500)),
        (101, 0, tcp_frame(C, S, 40000, 80, FIN | ACK)),
        (101, 100000, tcp_frame(S, C, 80, 40000, FIN | ACK)),
        (101, 200000, tcp_frame(C, S, 40000, 80, ACK)),
        (50, 0, bytes(8)),  # runs backwards and is too short for Ethernet
    ]
    p = tmp_path / "session.pcap"
    p.write_bytes(pcap(frames))
    return p


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_capture_to_csv(capture, tmp_path):
    out = tmp_path / "flows.csv"
    r = run(str(capture), "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["flows"] == 1
    assert summary["read"]["records"] == 9
    assert summary["read"]["skipped"] == 1
    assert summary["read"]["reasons"]["malformed packet"] == 1
    rows = read_csv(out)
    assert len(rows) == 1
    f = rows[0]
    assert (f["src"], f["dst"], f["sport"], f["dport"], f["proto"]) == (C, S, "40000", "80", "6")
    assert float(f["start"]) == pytest.approx(100.0)
    assert float(f["duration"]) == pytest.approx(1.2)
    assert (int(f["fwd_packets"]), int(f["fwd_bytes"])) == (5, 300)
    assert (int(f["bwd_packets"]), int(f["bwd_bytes"])) == (3, 620)
    assert float(f["fwd_mean_iat"]) == pytest.approx(0.3)
    assert float(f["bwd_mean_iat"]) == pytest.approx(0.5)
    assert int(f["fwd_flags"]) == SYN | ACK | PSH | FIN


def test_ndpi_labels_and_zeek(capture, tmp_path):
    out_file = tmp_path / "session.pcap.out"
    out_file.write_text(
        "\t1\tTCP 10.0.0.2:80 <-> 10.0.0.1:40000 [proto: 7/HTTP][IP: 0/Unknown][cat: Web/5][5 pkts]\n"
    )
    zeek = tmp_path / "conn.log"
    zeek.write_text(
        "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\t"
        "orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\tlabel\tdetailedlabel\n"
        "50.5\t192.168.1.2\t5000\t8.8.8.8\t53\tudp\t0.5\t1\t60\t1\t120\tBenign\t-\n"
    )
    out = tmp_path / "flows.csv"
    r = run(str(capture), str(zeek), "-o", str(out), "--labels", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = read_csv(out)
    assert len(rows) == 2
    # inputs one after the other (each in start order): the capture's flow (100) before the Zeek flow (50.5)
    assert rows[1]["src"] == "192.168.1.2" and rows[1]["label"] == "Benign"
    assert (rows[1]["fwd_bytes"], rows[1]["bwd_bytes"]) == ("60", "120")
    assert rows[0]["detail"] == "HTTP" and rows[0]["category"] == "Web"
    assert "skipped 1" in r.stderr
    assert ("labels: 1 label file(s) with 1 nDPI flow line(s); 1 flow(s) took a label from them, 0 flow(s) "
            "have no label; 0 line(s) named a 5-tuple no flow here has") in r.stderr
    # a label line for a conversation the capture does not hold is counted apart, and so is the flow
    # without a label
    out_file.write_text(out_file.read_text() +
                        "\t2\tUDP 10.0.0.9:1 <-> 10.0.0.8:2 [proto: 5/DNS][IP: 0/Unknown][cat: Network/14]\n")
    r = run(str(capture), "-o", str(out), "--labels", str(tmp_path), "--json", "--no-decap")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["label_files"], d["label_lines"], d["ndpi_label_matches"], d["label_lines_unmatched"],
            d["flows_without_label"]) == (1, 2, 1, 1, 0)


def test_bad_command_lines_and_inputs(tmp_path, capture):
    assert run("--help").returncode == 0
    h = run("--help").stdout
    assert "default 120" in h and "default 1800" in h
    assert run(str(capture)).returncode == 2  # no -o
    assert run("-o", str(tmp_path / "x.csv")).returncode == 2  # no input
    assert run(str(capture), "-o", "x", "--format", "nope").returncode == 2
    assert run(str(capture), "-o", "x", "--idle-timeout", "0").returncode == 2
    assert run(str(capture), "-o", "x", "--columns", "source=a").returncode == 2
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    out = tmp_path / "flows.csv"
    r = run(str(junk), str(capture), "-o", str(out))
    assert r.returncode == 1  # one input unreadable, the other still written
    assert "junk.txt" in r.stderr
    assert len(read_csv(out)) == 1


def test_shared_data_if_present(tmp_path):
    data = os.environ.get("WEFT_DATA_DIR") or os.path.join(REPO, "..", "shared", "data")
    if not os.path.isdir(os.path.join(data, "stratosphere")):
        pytest.skip("traffic data folder not found (set WEFT_DATA_DIR)")
    logs = sorted(os.path.join(data, "stratosphere", f) for f in os.listdir(os.path.join(data, "stratosphere")))
    out = tmp_path / "flows.csv"
    r = run(*logs, "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    rows = read_csv(out)
    assert len(rows) == json.loads(r.stdout)["flows"] > 0
    assert {row["label"] for row in rows} >= {"Benign", "Malicious"}


def vlan_udp_frame(vid, src, dst, sp, dp):
    udp = struct.pack(">HHHH", sp, dp, 12, 0) + bytes(4)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, ip4(src), ip4(dst))
    return bytes(12) + struct.pack(">HHH", 0x8100, vid, 0x0800) + ip + udp


def gre_frame(inner_src, inner_dst):
    """IPv4 / GRE (no options) / IPv4 / UDP 1000 -> 2000, outer 192.0.2.1 -> 192.0.2.2."""
    udp = struct.pack(">HHHH", 1000, 2000, 8, 0)
    inner = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0, ip4(inner_src), ip4(inner_dst)) + udp
    gre = struct.pack(">HH", 0, 0x0800) + inner
    outer = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(gre), 1, 0, 64, 47, 0, ip4("192.0.2.1"),
                        ip4("192.0.2.2"))
    return bytes(12) + b"\x08\x00" + outer + gre


def test_vlan_key_and_tunnel_columns(tmp_path):
    cap = tmp_path / "vlan.pcap"
    cap.write_bytes(pcap([(10, 0, vlan_udp_frame(7, C, S, 5000, 53)),
                          (10, 1000, vlan_udp_frame(8, C, S, 5000, 53)),
                          (10, 2000, vlan_udp_frame(8, S, C, 53, 5000)),
                          (10, 3000, gre_frame("10.1.1.1", "10.1.1.2"))]))
    out = tmp_path / "f.csv"
    assert run(str(cap), "-o", str(out)).returncode == 0
    rows = read_csv(out)
    assert [(r["vlan"], r["fwd_packets"], r["bwd_packets"]) for r in rows[:2]] == [("7", "1", "0"), ("8", "1", "1")]
    assert (rows[2]["src"], rows[2]["proto"], rows[2]["tunnel"], rows[2]["outer_src"], rows[2]["outer_dst"]) == \
        ("10.1.1.1", "17", "gre", "192.0.2.1", "192.0.2.2")
    assert rows[0]["tunnel"] == "" and rows[0]["outer_src"] == ""
    assert run(str(cap), "-o", str(out), "--ignore-vlan").returncode == 0
    rows = read_csv(out)
    assert len(rows) == 2 and rows[0]["fwd_packets"] == "2" and rows[0]["bwd_packets"] == "1"
    assert run(str(cap), "-o", str(out), "--no-decap").returncode == 0
    rows = read_csv(out)
    assert (rows[2]["src"], rows[2]["proto"], rows[2]["tunnel"]) == ("192.0.2.1", "47", "")
    # weft graph reads the new columns back without a warning
    r = subprocess.run([weft_bin(), "graph", str(out), "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["read"]["warnings"] == 0
