"""`weft finetune` on USTC-TFC2016 flow CSVs with the malware family as the class: `weft flows` reads a
file named Malware_<Family>_<L4>.csv as label Malware, detail <Family>, and a label map naming the
families makes the detail the class (as bench/paper_experiment.py does for its malware task).

The weft binary: $WEFT_BIN (tests/pylib/weft_testlib.py); the data: ../shared/data or $WEFT_DATA.
"""
import json
import os

import pytest

from traincli import DATA, ENCODER, weft

FILES = ["Malware_Zeus_TCP.csv", "Malware_Zeus_UDP.csv", "Malware_Htbot_TCP.csv"]


@pytest.fixture
def ustc(tmp_path):
    src = os.path.join(DATA, "ustc-tfc2016")
    if not all(os.path.exists(os.path.join(src, f)) for f in FILES):
        pytest.skip(f"USTC-TFC2016 flow CSVs not found under {src}")
    out = []
    for f in FILES:  # the header and the first 60 conversations, under the original name
        with open(os.path.join(src, f), encoding="utf-8") as fh:
            lines = fh.readlines()[:61]
        p = tmp_path / f
        p.write_text("".join(lines), encoding="utf-8")
        out.append(str(p))
    return out


def test_family_from_file_name(ustc, tmp_path):
    lmap = tmp_path / "families.map"
    lmap.write_text("# the family is the class\nZeus,Zeus\nHtbot,Htbot\n")
    js = tmp_path / "m.json"
    args = ["finetune", "--scratch", ENCODER, "-o", str(tmp_path / "t.onnx"), "--json", str(js), "--shots", "5",
            "--epochs", "1", "--seed", "3", "--label-map", str(lmap)]
    for p in ustc:
        args += ["--data", p]
    r = weft(*args)
    assert r.returncode == 0, r.stderr
    m = json.loads(js.read_text())
    # Zeus_TCP and Zeus_UDP are one class; every flow of the three files has a family
    assert m["classes"] == ["Htbot", "Zeus"]
    assert m["split"]["train"] == 10
    assert sum(m["split"].values()) <= 3 * 60
    assert sum(m["test"]["per_class"][c]["support"] for c in m["classes"]) == m["test"]["flows"] > 0

    # without the map every flow has the label Malware: one class, which no classifier can learn
    r = weft(*args[:-2])
    assert r.returncode != 0 and "1 class" in r.stderr
