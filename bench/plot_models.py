#!/usr/bin/env python3
"""Plots weft's latency relative to ONNX Runtime's for the CNN and sequence / attention reference models
(bench/results/cnn_bench.json and seq_bench.json, written by bench/cnn_bench.py): one bar per model,
batch and thread count, weft onednn p50 / ONNX Runtime p50 on a log axis (below 1: weft is faster).

    bench/.venv/bin/python bench/plot_models.py [--out bench/models_vs_ort.svg]
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def rows(name):
    with open(os.path.join(HERE, "results", name)) as f:
        return json.load(f)["rows"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "models_vs_ort.svg"))
    args = ap.parse_args()
    groups = [("CNNs", rows("cnn_bench.json")), ("sequence and attention models", rows("seq_bench.json"))]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), sharey=True)
    for ax, (title, rs) in zip(axes, groups):
        models = list(dict.fromkeys(r["model"] for r in rs))
        keys = sorted({(r["batch"], r["threads"]) for r in rs})
        width = 0.8 / len(keys)
        for k, (batch, threads) in enumerate(keys):
            xs, ys = [], []
            for m, model in enumerate(models):
                for r in rs:
                    if r["model"] == model and r["batch"] == batch and r["threads"] == threads:
                        xs.append(m - 0.4 + (k + 0.5) * width)
                        ys.append(r["weft_onednn_p50_ms"] / r["ort_p50_ms"])
            ax.bar(xs, ys, width, label=f"batch {batch}, {threads} thread{'s' if threads > 1 else ''}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([m.replace("_ts17", "").replace("_dynamo18", "") for m in models], rotation=30, ha="right")
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("weft onednn p50 / ONNX Runtime p50 (log; < 1: weft faster)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
