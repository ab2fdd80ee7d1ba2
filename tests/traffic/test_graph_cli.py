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
    # the input's time range ends 1800 s after its latest start: 361 windows, 73 graphs
    d = json.loads(graph(csv, "--json").stdout)
    t = d["totals"]
    assert d["params"]["max_tail"] == 1800
    assert t["flows_past_end"] == 1 and t["memberships"] == 361 and t["graphs"] == 73
    assert "1 flow(s) lasted past the end of their input's time range" in graph(csv).stdout
    # without that limit, max_flow_windows still bounds it
    r = graph(csv, "--json", "--max-tail", "0")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    t = d["totals"]
    assert d["params"]["max_flow_windows"] == 17280
    assert t["flows_clipped"] == 1
    assert t["memberships"] == 17280
    assert t["windows_clipped"] == 10_000_000 - 17280
    assert t["graphs"] == 3456 and len(d["graphs"]) == 3456
    # text mode says so in words
    r = graph(csv, "--max-tail", "0")
    assert r.returncode == 0
    assert "1 flow(s) lasted longer than 17280 windows" in r.stdout


def test_limit_option(tmp_path):
    csv = flow_csv(tmp_path, ["10.0.0.1,10.0.0.2,1,2,6,0,5e7", "10.0.0.3,10.0.0.4,1,2,17,1,2"])
    d = json.loads(graph(csv, "--json", "--max-flow-windows", "7", "--max-tail", "0").stdout)
    assert d["totals"]["flows_clipped"] == 1
    assert d["totals"]["memberships"] == 7 + 1  # the short flow keeps its one window
    assert d["totals"]["graphs"] == 2
    # a flow within the limit is not counted as clipped
    d = json.loads(graph(flow_csv(tmp_path, ["10.0.0.1,10.0.0.2,1,2,6,0,30"]), "--json").stdout)
    assert d["totals"]["flows_clipped"] == 0 and d["totals"]["memberships"] == 6
    for bad in ("-1", "x", "2e9"):
        r = graph(csv, "--max-flow-windows", bad)
        assert r.returncode == 2 and "--max-flow-windows" in r.stderr


def synth_rows(n, t0, hosts=20, seed=1):
    """n short flows over about n/10 seconds from t0, in start order."""
    import random
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        s, d = rnd.randrange(hosts), rnd.randrange(hosts)
        rows.append(f"10.0.0.{s + 1},10.0.1.{d + 1},{1024 + rnd.randrange(5)},443,6,{t0 + i * 0.1:.3f},"
                    f"{rnd.random() * 3:.3f}")
    return rows


def write(path, rows):
    path.write_text("src,dst,sport,dport,proto,start,duration\n" + "".join(r + "\n" for r in rows))
    return str(path)


def totals(*args):
    r = graph(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_inputs_per_input_and_merged(tmp_path):
    a = write(tmp_path / "a.csv", synth_rows(3000, 1.7e9, seed=1))
    b = write(tmp_path / "b.csv", synth_rows(3000, 1.7e9 - 86400, seed=2))  # a day earlier
    da, db = totals(a, "--save-scaler", str(tmp_path / "s.txt")), totals(b, "--scaler", str(tmp_path / "s.txt"))
    # per input (the default): each on its own time axis, the same graphs as alone
    both = totals(a, b, "--scaler", str(tmp_path / "s.txt"))
    assert both["totals"]["time_axes"] == 2
    assert both["totals"]["graphs"] == da["totals"]["graphs"] + db["totals"]["graphs"]
    assert [g["nodes"] for g in both["graphs"]] == [g["nodes"] for g in da["graphs"] + db["graphs"]]
    # merged: one axis in time order, b's graphs first
    m = totals(a, b, "--merge", "--scaler", str(tmp_path / "s.txt"))
    assert m["totals"]["time_axes"] == 1 and m["totals"]["flows_late"] == 0
    assert m["totals"]["graphs"] == both["totals"]["graphs"]
    assert m["graphs"][0]["t0"] < da["graphs"][0]["t0"]
    # the two files written one after the other in one CSV (as `weft flows a b` does): two axes again
    cat = write(tmp_path / "ab.csv", synth_rows(3000, 1.7e9, seed=1) + synth_rows(3000, 1.7e9 - 86400, seed=2))
    c = totals(cat, "--scaler", str(tmp_path / "s.txt"))
    assert c["totals"]["time_axes"] == 2 and c["totals"]["graphs"] == both["totals"]["graphs"]
    # ... and merged onto one axis, the earlier day's flows arrive late and say so
    c = totals(cat, "--merge", "--scaler", str(tmp_path / "s.txt"))
    assert c["totals"]["time_axes"] == 1 and c["totals"]["flows_late"] == 3000
    r = graph(cat, "--merge", "--scaler", str(tmp_path / "s.txt"))
    assert "3000 flow(s) started more than 60 s before flows read earlier" in r.stdout


def test_stdin_and_compressed(tmp_path):
    import gzip
    import shutil
    rows = synth_rows(2000, 1.7e9)
    plain = write(tmp_path / "f.csv", rows)
    scaler = str(tmp_path / "s.txt")
    ref = totals(plain, "--save-scaler", scaler)
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(gzip.compress(open(plain, "rb").read()))
    assert totals(str(gz), "--scaler", scaler)["graphs"] == ref["graphs"]
    if shutil.which("zstd"):
        zst = tmp_path / "f.csv.zst"
        subprocess.run(["zstd", "-q", "-f", plain, "-o", str(zst)], check=True)
        assert totals(str(zst), "--scaler", scaler)["graphs"] == ref["graphs"]
    r = subprocess.run([wt.require_weft(), "graph", "-", "--scaler", scaler, "--json"], input=open(plain).read(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["graphs"] == ref["graphs"]
    # standard input cannot be read twice to fit the scaling
    r = subprocess.run([wt.require_weft(), "graph", "-"], input=open(plain).read(), capture_output=True, text=True)
    assert r.returncode == 2 and "--scaler" in r.stderr
    # a damaged compressed file keeps the rows before the damage and says so
    gz.write_bytes(gzip.compress(open(plain, "rb").read())[:3000])
    r = graph(str(gz), "--scaler", scaler, "--json")
    d = json.loads(r.stdout)
    assert 0 < d["totals"]["flows"] < 2000
    assert "cut short or damaged" in json.dumps(d["read"])


def test_out_dir_rows_and_bounded_memory(tmp_path):
    import numpy as np
    rows = synth_rows(60000, 1.7e9)
    csv = write(tmp_path / "f.csv", rows)
    d = totals(csv, "--out-dir", str(tmp_path / "g"))
    # flows are held only while their windows are in flight (6000 s of flows, 25 s graphs, a 60 s
    # reorder allowance, builds batched a few thousand flows at a time), not the whole input
    assert d["totals"]["flows"] == 60000
    assert d["totals"]["peak_flows_held"] < 6000
    # con_flow is each node's row among the flows read, whatever was let go before
    g = sorted(os.listdir(tmp_path / "g"))[-1]
    con_flow = np.load(tmp_path / "g" / g / "con_flow.npy")
    assert con_flow.min() > 59000 and con_flow.max() < 60000


def test_follow_a_growing_file(tmp_path):
    import signal
    import time
    rows = synth_rows(3000, 1.7e9)
    full = write(tmp_path / "full.csv", rows)
    scaler = str(tmp_path / "s.txt")
    ref = totals(full, "--save-scaler", scaler)
    grow = tmp_path / "grow.csv"
    grow.write_text("src,dst,sport,dport,proto,start,duration\n" + "".join(r + "\n" for r in rows[:1000]))
    p = subprocess.Popen([wt.require_weft(), "graph", str(grow), "--follow", "--scaler", scaler, "--json",
                          "--reorder", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    # rows arrive in pieces, the last one cut mid-row for a while: nothing is read twice or half
    with open(grow, "a") as f:
        tail = "".join(r + "\n" for r in rows[1000:])
        f.write(tail[: len(tail) // 2])
        f.flush()
        time.sleep(0.8)
        f.write(tail[len(tail) // 2:])
        f.flush()
    time.sleep(1.0)
    assert p.poll() is None  # still following
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    d = json.loads(out)
    assert d["totals"]["flows"] == 3000
    assert d["graphs"] == ref["graphs"]
    # --follow needs one input and --scaler
    r = graph(full, "--follow")
    assert r.returncode == 2 and "--follow" in r.stderr
