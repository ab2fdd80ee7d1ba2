#!/usr/bin/env bash
# bench/setup_peers.sh — the Python environment of the peer systems weft is compared with: a venv at
# bench/.venv holding numpy, onnx, onnxruntime, torch, torch_geometric, transformers, onnxscript and matplotlib
# from PyPI (transformers and onnxscript: the sequence reference models, models/export_seq.py).
#
#   bench/setup_peers.sh            everything (torch from PyPI brings its CUDA wheels: a one-time,
#                                   multi-gigabyte install; the benchmark itself runs on the CPU)
#   bench/setup_peers.sh --no-torch numpy, onnx, onnxruntime, matplotlib only (bench/run_bench.sh --quick)
#
# Idempotent: a package already importable is not installed again, so a second run costs a few seconds.
# torch_geometric is installed without its optional extras (pyg-lib, torch-scatter, torch-sparse):
# SAGEConv, GCNConv, GATConv and HeteroConv run on plain torch.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
with_torch=1
for a in "$@"; do
    case "$a" in
    --no-torch) with_torch=0 ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup_peers.sh: unknown option '$a'" >&2; exit 2 ;;
    esac
done

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
fi
py="$venv/bin/python"

# module name -> pip name, installed only when the import fails
need=()
want() { "$py" -c "import $1" >/dev/null 2>&1 || need+=("$2"); }
want numpy numpy
want onnx onnx
want onnxruntime onnxruntime
want matplotlib matplotlib
if [ $with_torch -eq 1 ]; then
    want torch torch
    want torch_geometric torch_geometric
    # 5.25.0 needs kernels>=0.19.1, which PyPI does not have
    want transformers transformers==5.24.0
    # the dynamo exporter (torch.onnx.export(dynamo=True)) of the reference-model exports
    want onnxscript onnxscript
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "installing into $venv: ${need[*]}"
    "$py" -m pip install -q "${need[@]}"
fi
"$py" - <<'EOF'
import importlib
for m in ("numpy", "onnx", "onnxruntime", "matplotlib", "torch", "torch_geometric", "transformers", "onnxscript"):
    try:
        print(f"  {m} {importlib.import_module(m).__version__}")
    except ImportError:
        print(f"  {m}: not installed")
EOF
