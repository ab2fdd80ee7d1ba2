"""Writes the bundled GNN-pattern models into models/patterns/ in ONNX's test layout:
<name>/model.onnx, <name>/inputs.txt (graph inputs in order), <name>/test_data_set_0/input_K.pb and
output_K.pb, the outputs computed by ONNX Runtime. Run: .venv/bin/python tests/crosscheck/make_pattern_models.py
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gnn_patterns as gp  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "models", "patterns")

# folder name -> (pattern, opset, dtype)
BUNDLE = {
    "gcn_conv": ("gcn", 18, np.float32),
    "sage_conv_mean": ("sage", 17, np.float32),
    "gat_edge_softmax": ("gat", 18, np.float32),
    "scatternd_max": ("scatternd_max", 18, np.float32),
    "mean_aggr_f64": ("mean", 17, np.float64),
    "link_scores": ("link", 18, np.float32),
}


def main():
    for folder, (pattern, opset, dtype) in BUNDLE.items():
        d = os.path.join(OUT, folder)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        model = gp.build(pattern, opset, dtype, F=8, seed=1)
        model.graph.name = folder
        onnx.save(model, os.path.join(d, "model.onnx"))
        x, ei = gp.make_graph("small", seed=3, F=8, dtype=dtype, negative_src=gp.PATTERNS[pattern][2])
        inputs = {"x": x, "edge_index": ei}
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), providers=["CPUExecutionProvider"])
        names = [o.name for o in model.graph.output]
        outputs = sess.run(names, inputs)
        with open(os.path.join(d, "inputs.txt"), "w") as f:
            f.write("".join(i.name + "\n" for i in model.graph.input))
        for k, i in enumerate(model.graph.input):
            onnx.save_tensor(numpy_helper.from_array(inputs[i.name], i.name),
                             os.path.join(d, "test_data_set_0", f"input_{k}.pb"))
        for k, (name, arr) in enumerate(zip(names, outputs)):
            onnx.save_tensor(numpy_helper.from_array(arr, name),
                             os.path.join(d, "test_data_set_0", f"output_{k}.pb"))
        print(f"{folder}: {pattern} opset {opset} {np.dtype(dtype).name}, outputs {[a.shape for a in outputs]}")


if __name__ == "__main__":
    main()
