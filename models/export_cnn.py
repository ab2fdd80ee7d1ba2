#!/usr/bin/env python3
"""Exports the CNN reference models (models/cnn_models.py) with the TorchScript exporter at opset 17
into models/<name>_ts17/ (ONNX test layout, PyTorch eager outputs) and adds their rows to
models/MANIFEST (rows of other models are kept). The EfficientNet- and ShuffleNet-style models are
also exported with the dynamo exporter at opset 18 (models/<name>_dynamo18/).

Run with a Python that has torch, onnx, onnxscript and onnxruntime (bench/.venv has them):
    bench/.venv/bin/python models/export_cnn.py                 # all of them
    bench/.venv/bin/python models/export_cnn.py efficientnet    # only exports whose name contains one of these
Reproducible: weights, batch-norm statistics and inputs come from fixed seeds.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnn_models  # noqa: E402
import common  # noqa: E402
from export_all import write_manifest  # noqa: E402

SIZE = 64
# Exporters per family (default: the TorchScript one at opset 17 only).
EXPORTS = {"efficientnet_small": ["ts17", "dynamo18"], "shufflenet_small": ["ts17", "dynamo18"]}


def main(argv):
    only = argv[1:]
    rows = []
    for k, (family, cls, notes) in enumerate(cnn_models.FAMILIES):
        sel = [s for s in EXPORTS.get(family, ["ts17"]) if not only or any(o in f"{family}_{s}" for o in only)]
        if not sel:
            continue
        rng = np.random.default_rng(100 + k)
        cases = [{"image": rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)},
                 {"image": rng.standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)}]
        rows += common.export_family(
            family, lambda cls=cls, k=k: cnn_models.make_model(cls, 7 + k, SIZE), cases, ["image"], ["logits"],
            {"image": {0: "batch"}, "logits": {0: "batch"}}, notes, "random N(0, 1) images (batch axis dynamic)",
            only=sel)
    write_manifest(rows)


if __name__ == "__main__":
    main(sys.argv)
