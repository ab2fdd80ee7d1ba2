#!/usr/bin/env python3
"""Exports the CNN reference models (models/cnn_models.py) with the TorchScript exporter at opset 17
into models/<name>_ts17/ (ONNX test layout, PyTorch eager outputs) and adds their rows to
models/MANIFEST (rows of other models are kept).

Run with a Python that has torch, onnx and onnxruntime (bench/.venv has them):
    bench/.venv/bin/python models/export_cnn.py
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


def main():
    rows = []
    for k, (family, cls, notes) in enumerate(cnn_models.FAMILIES):
        rng = np.random.default_rng(100 + k)
        cases = [{"image": rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)},
                 {"image": rng.standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)}]
        rows += common.export_family(
            family, lambda cls=cls, k=k: cnn_models.make_model(cls, 7 + k, SIZE), cases, ["image"], ["logits"],
            {"image": {0: "batch"}, "logits": {0: "batch"}}, notes, "random N(0, 1) images (batch axis dynamic)",
            only=["ts17"])
    write_manifest(rows)


if __name__ == "__main__":
    main()
