"""End-to-end tests of `weft graph` on flow CSVs written here: inputs that would cost far more than they
are worth (a flow whose duration is decades) stay bounded, and the clipping is reported.

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py).
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import weft_testlib as wt  # noqa: E402


def graph(*args):
    return subprocess.run([wt.require_weft(), "graph", *args], capture_output=True, text=True, timeout=120)


def flow_csv(tmp_path, rows):
    p = tmp_path / "flows.csv"
    p.write_text("src,dst,sport,dport,proto,start,duration\n" + "".join(r + "\n" for r in rows))
    return str(p)


def test_decades_long_flow_is_clipped_and_reported(tmp_path):
    # one flow of 5e7 s: 10 million 5 s windows, 2 million graphs without a limit
    csv = flow_csv(tmp_path, ["10.0.0.1,10.0.0.2,1,2,6,0,5e7"])
    r = graph(csv, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    t = d["totals"]
    assert d["params"]["max_flow_windows"] == 17280
    assert t["flows_clipped"] == 1
    assert t["memberships"] == 17280
    assert t["windows_clipped"] == 10_000_000 - 17280
    assert t["graphs"] == 3456 and len(d["graphs"]) == 3456
    # text mode says so in words
    r = graph(csv)
    assert r.returncode == 0
    assert "1 flow(s) lasted longer than 17280 windows" in r.stdout


def test_limit_option(tmp_path):
    csv = flow_csv(tmp_path, ["10.0.0.1,10.0.0.2,1,2,6,0,5e7", "10.0.0.3,10.0.0.4,1,2,17,1,2"])
    d = json.loads(graph(csv, "--json", "--max-flow-windows", "7").stdout)
    assert d["totals"]["flows_clipped"] == 1
    assert d["totals"]["memberships"] == 7 + 1  # the short flow keeps its one window
    assert d["totals"]["graphs"] == 2
    # a flow within the limit is not counted as clipped
    d = json.loads(graph(flow_csv(tmp_path, ["10.0.0.1,10.0.0.2,1,2,6,0,30"]), "--json").stdout)
    assert d["totals"]["flows_clipped"] == 0 and d["totals"]["memberships"] == 6
    for bad in ("-1", "x", "2e9"):
        r = graph(csv, "--max-flow-windows", bad)
        assert r.returncode == 2 and "--max-flow-windows" in r.stderr
