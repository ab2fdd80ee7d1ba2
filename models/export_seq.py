#!/usr/bin/env python3
"""Exports the sequence and attention reference models (models/seq_models.py) with the TorchScript
exporter at opset 17 (models/<name>_ts17/) and the dynamo exporter at opset 18
(models/<name>_dynamo18/), in the ONNX test layout with PyTorch eager outputs, and adds their rows to
models/MANIFEST (rows of other models are kept). Batch and sequence axes are dynamic (ViT: batch).

Run with a Python that has torch, transformers, onnx, onnxscript and onnxruntime (bench/.venv has them
after bench/setup_peers.sh):
    bench/.venv/bin/python models/export_seq.py            # every family
    bench/.venv/bin/python models/export_seq.py bert gru   # only exports whose name contains these
Reproducible: weights and inputs come from fixed seeds.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402
import seq_models  # noqa: E402
from export_all import write_manifest  # noqa: E402

EXPORTS = ["ts17", "dynamo18"]

# Families exported (and their eager references computed) with PyTorch's fused multi-head-attention
# fast path off: see the transformer_encoder notes in seq_models.py.
NO_MHA_FASTPATH = {"transformer_encoder"}

# Known causes of an export's failure or deviation, by family and exporter suffix (added to the
# manifest row when that export fails or deviates).
EXPLAIN = {
    "transformer_encoder": {
        "ts17": "the TorchScript exporter records F.multi_head_attention_forward's "
                "q.view(tgt_len, bsz * num_heads, head_dim) with tgt_len as the export example's sequence "
                "length (a Constant 12 in the Reshape's shape; bsz * num_heads is traced from Shape): the "
                "model runs only at seq 12, so ONNX Runtime fails on set 1 (seq 7)",
    },
}


def failed_row(family, suffix, factory, cases, data, notes, err):
    """The manifest row of an export that was written but does not run (ONNX Runtime fails on a test
    set): no model is kept, like an export that failed outright."""
    dynamo, opset = {s: (d, o) for s, d, o in common.EXPORTERS}[suffix]
    name = f"{family}_{suffix}"
    shutil.rmtree(os.path.join(common.MODELS_DIR, name), ignore_errors=True)
    cause = EXPLAIN.get(family, {}).get(suffix)
    return {"name": name, "file": "-", "sha256": "-", "status": "export-failed", "reference": "-", "io": "-",
            "exporter": ("torch.onnx.export dynamo=True (torch.export + onnxscript)" if dynamo
                         else "torch.onnx.export dynamo=False (TorchScript)"),
            "versions": common.versions(), "opset": opset, "params": common.param_count(factory()),
            "data": data + "; " + "; ".join(common.describe_case(k, c) for k, c in enumerate(cases)),
            "notes": notes,
            "deviation": "the exported model fails in ONNX Runtime: " + ort_failure(err)
                         + (f" -- cause: {cause}" if cause else "")}


def ort_failure(err):
    """ONNX Runtime's failure in one line: the failing node and the last sentence of its message."""
    text = str(err)
    m = re.search(r"running (\w+) node\. Name:'([^']*)'", text)
    tail = text.strip().splitlines()[0].rsplit(" was false. ", 1)[-1]
    if m:
        return f"{m.group(1)} node {m.group(2)}: {tail[:200]}"
    return common.failure_cause(err)[:300]


def main(argv):
    only = argv[1:]
    rows = []
    for family, factory, cases, inputs, outputs, dyn, notes, data in (seq_models.FAMILIES
                                                                       + seq_models.transformers_families()):
        sel = [s for s in EXPORTS if not only or any(o in f"{family}_{s}" for o in only)]
        if not sel:
            continue
        print(family)
        torch.backends.mha.set_fastpath_enabled(family not in NO_MHA_FASTPATH)
        try:
            for suffix in sel:
                try:
                    rows += common.export_family(family, factory, cases, inputs, outputs, dyn, notes, data,
                                                 only=[suffix], explain=EXPLAIN.get(family))
                except Exception as e:  # written, but ONNX Runtime cannot run it: a finding, recorded
                    row = failed_row(family, suffix, factory, cases, data, notes, e)
                    print(f"  {row['name']}: EXPORT FAILED: {row['deviation'][:300]}")
                    rows.append(row)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
    write_manifest(rows)


if __name__ == "__main__":
    main(sys.argv)
