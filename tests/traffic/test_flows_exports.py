"""`weft flows` on the flow exports datasets and collectors ship: the samples of tests/data/traffic
(CICFlowMeter, UNSW-NB15, nfdump CSVs hand-made in the published formats; NetFlow v5 / v9 / IPFIX export
captures written by gen_export_pcaps.py). The flow CSV is read back with the csv module, the summary with
--json. Expected values are worked out from the samples, never taken from weft.
"""
import csv
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import weft_testlib as wt  # noqa: E402

DATA = os.path.join(wt.REPO, "tests", "data", "traffic")


def flows(tmp_path, *inputs, extra=()):
    out = tmp_path / "flows.csv"
    r = wt.run_weft(["flows", *[os.path.join(DATA, i) for i in inputs], "-o", out, "--json", *extra])
    rows = []
    if out.exists():
        with open(out, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    summary = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
    return r, rows, summary


def test_cic_files_detected_and_read(tmp_path):
    r, rows, s = flows(tmp_path, "cic_ids2017_sample.csv", "cse_cic_ids2018_sample.csv",
                       "cicflowmeter_v4_output.csv")
    assert r.rc == 0, r.describe()
    assert len(rows) == 5 + 2 + 1
    by_start = {float(x["start"]): x for x in rows}
    ddos = by_start[1499399760.0]  # 7/7/2017 3:56
    assert (ddos["src"], ddos["dport"], ddos["label"], ddos["detail"]) == ("172.16.0.1", "80", "Malicious", "DDoS")
    assert (ddos["fwd_packets"], ddos["bwd_bytes"], ddos["bwd_max_size"]) == ("3", "11607", "5840")
    assert ddos["has_stats"] == "1"
    web = by_start[1499332543.0]  # 06/07/2017 09:15:43 AM
    assert web["detail"] == "Web Attack \u2013 Brute Force"
    xss = by_start[1499347200.0]
    assert xss["detail"] == "Web Attack \u2013 XSS"  # from the Windows-1252 byte: the CSV stays UTF-8
    v4 = by_start[1561129527.0]  # 21/06/2019 03:05:27 PM
    assert v4["label"] == "" and v4["src"] == "10.0.0.7"
    text = json.dumps(s)
    assert "repeated header row" in text and "negative duration" in text


def test_missing_address_columns_are_named(tmp_path):
    for name, want in (("cic_ids2017_machinelearningcve.csv", "'Source IP' or 'Src IP'"),
                       ("cse_cic_ids2018_noaddr.csv", "'Destination IP' or 'Dst IP'"),
                       ("unsw_nb15_training_set_sample.csv", "'srcip'")):
        r, rows, _ = flows(tmp_path, name)
        assert r.rc == 1, r.describe()
        assert want in r.stderr, r.describe()
        assert rows == []


def test_unsw_and_nfdump(tmp_path):
    r, rows, s = flows(tmp_path, "unsw_nb15_sample.csv", "nfdump_sample.csv")
    assert r.rc == 0, r.describe()
    assert len(rows) == 5 + 3
    unsw = [x for x in rows if x["src"].startswith(("59.", "175.", "10.40."))]
    assert [x["label"] for x in unsw] == ["Benign", "Malicious", "Malicious", "Malicious", "Benign"]
    assert [x["detail"] for x in unsw] == ["", "Exploits", "Fuzzers", "Backdoors", ""]
    assert unsw[3]["sport"] == "11"  # 0x000b
    nf = [x for x in rows if x["src"] in ("192.168.1.10", "2001:db8::1")]
    assert nf[0]["fwd_flags"] == str(0x1B)  # ...AP.SF
    assert (nf[1]["bwd_packets"], nf[1]["bwd_bytes"]) == ("1", "120")
    text = json.dumps(s)
    assert "Summary" not in text  # the closing block is neither flows nor problems
    assert "not an IP protocol" in text  # the arp row


def test_export_captures(tmp_path):
    r, rows, s = flows(tmp_path, "netflow_v5.pcap", "netflow_v9.pcap", "ipfix.pcap", extra=["--format", "export-pcap"])
    assert r.rc == 0, r.describe()
    assert len(rows) == 4 + 3 + 3
    first = min(rows, key=lambda x: float(x["start"]))
    assert (first["src"], first["dst"], first["sport"], first["dport"]) == ("10.1.1.1", "10.2.2.2", "40000", "443")
    assert float(first["duration"]) == 50.0 and first["has_stats"] == "0"
    bi = [x for x in rows if x["dst"] == "203.0.113.7"][0]
    assert (bi["bwd_packets"], bi["bwd_bytes"], bi["bwd_flags"]) == ("50", "64000", str(0x11))
    text = json.dumps(s)
    assert "data set before its template" in text and "not an export datagram" in text


def test_export_capture_without_the_format_is_an_ordinary_capture(tmp_path):
    # read as packets, the v5 capture is UDP flows between exporter and collector, not the exported flows
    r, rows, _ = flows(tmp_path, "netflow_v5.pcap")
    assert r.rc == 0, r.describe()
    assert all(x["src"] != "10.1.1.1" for x in rows)
    assert any(x["dport"] == "2055" for x in rows)


def test_hostile_exports(tmp_path):
    r, rows, s = flows(tmp_path, "export_hostile.pcap", extra=["--format", "export-pcap"])
    assert r.rc == 0, r.describe()
    assert len(rows) == 2
    text = json.dumps(s)
    for reason in ("export datagram cut short", "bad template", "malformed export datagram",
                   "element length does not fit its type", "fragmented export datagram"):
        assert reason in text, reason


def test_help_lists_the_formats():
    r = wt.run_weft(["flows", "--help"])
    assert r.rc == 0
    for word in ("cic", "unsw", "nfdump", "export-pcap", "CICFlowMeter", "UNSW-NB15", "IPFIX"):
        assert word in r.stdout, word
