#!/usr/bin/env python3
"""The seed paper's experiment (../shared/seeds: arXiv 2409.08111) end to end with weft's CLI.

1. Exports the paper's reference encoder (temporal GraphSAGE, 3 layers, hidden 128, LeakyReLU:
   712,448 parameters; models/traffic_models.py) to ONNX with the PyTorch of bench/.venv.
2. Turns the traffic of ../shared/data into flow tables (`weft flows`) and cuts each input to a
   time-contiguous prefix (its first N flows by start time), so that the whole run fits the budget.
3. Pretrains the encoder by self-supervised link prediction (`weft pretrain`) on the union of those
   inputs with every label ignored (the pretraining command never reads a label).
4. Finetunes few-shot (`weft finetune --shots K`) on three tasks, from the pretrained encoder
   (--base) and from the same initial weights without pretraining (--scratch), with the same
   shots, seeds, epochs and data:
     intrusion detection      Stratosphere / Slips Zeek conn logs: Benign vs Malicious
     traffic classification   nDPI captures, the application nDPI names for each flow (top classes)
     malware classification   USTC-TFC2016 malware captures, the family named by the file name
5. Writes bench/results/paper-experiment-<date>.json, bench/paper_experiment.svg (macro F1 and
   accuracy per task), bench/paper_experiment_pretrain.svg (pretraining loss and AUC per epoch),
   and the "Paper experiment" section of bench/README.md (replaced on every run).

Run it through bench/paper_experiment.sh, which builds weft first.
"""
import argparse
import collections
import concurrent.futures
import csv
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- paper-experiment:begin (written by bench/paper_experiment.sh; replaced on every run) -->"
END = "<!-- paper-experiment:end -->"
TASKS = ["intrusion", "traffic", "malware"]
TASK_TITLE = {"intrusion": "intrusion detection (Stratosphere / Slips)",
              "traffic": "traffic classification (nDPI applications)",
              "malware": "malware family classification (USTC-TFC2016)"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r


# --- 1. the encoder ----------------------------------------------------------------------------

def export_encoder(path, layers, hidden, seed):
    """The paper's encoder with `layers` layers, as ONNX (TorchScript exporter, opset 17)."""
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import numpy as np
    import torch
    from common import EDGE_TYPES, seed_all, traffic_graph
    import traffic_models
    seed_all(seed)
    model = traffic_models.TrafficEncoder(hidden=hidden, layers=layers).eval()
    params = sum(p.numel() for p in model.parameters())
    g = traffic_graph(np.random.default_rng(2024), 60, 30)
    names = ["x_con", "x_ip"] + ["edge_index__" + t for t in EDGE_TYPES]
    dyn = {"x_con": {0: "num_con"}, "x_ip": {0: "num_ip"}, "h_con": {0: "num_con"}, "h_ip": {0: "num_ip"}}
    for t in EDGE_TYPES:
        dyn["edge_index__" + t] = {1: "num_edges_" + t}
    args = tuple(torch.from_numpy(g[n]) for n in names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, path, dynamo=False, opset_version=17, input_names=names,
                          output_names=["h_con", "h_ip"], dynamic_axes=dyn, do_constant_folding=True)
    return params


# --- 2. data -----------------------------------------------------------------------------------

def flow_csv(weft, src, dst, extra=()):
    run([weft, "flows", src, "-o", dst, *extra])


def prefix(src, dst, n, max_duration):
    """The first n flows (all with n = 0) of a flow CSV by start time among those lasting at most
    max_duration seconds (0: no limit): a contiguous stretch of the capture, so the graphs keep their
    structure. Returns the rows written."""
    with open(src, newline="") as f:
        r = csv.reader(f)
        hdr = next(r)
        rows = list(r)
    i, d = hdr.index("start"), hdr.index("duration")
    if max_duration > 0:
        rows = [x for x in rows if float(x[d] or 0) <= max_duration]
    rows.sort(key=lambda x: float(x[i]))
    rows = rows[:n] if n > 0 else rows
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(hdr)
        w.writerows(rows)
    return rows, hdr


def prepare(args, weft, work):
    data = args.data
    fl = os.path.join(work, "flows")
    os.makedirs(fl, exist_ok=True)
    tasks, corpus, notes = {}, [], {}

    def table(path, n, extra=()):
        out = os.path.join(fl, os.path.basename(path) + ".csv")
        flow_csv(weft, path, out + ".all", extra)
        rows, hdr = prefix(out + ".all", out, n, args.max_duration)
        return out, rows, hdr

    # intrusion detection: labelled Zeek conn logs; Background / Unknown flows are not classified
    ids = []
    for name in sorted(os.listdir(os.path.join(data, "stratosphere"))):
        ids.append(table(os.path.join(data, "stratosphere", name), args.ids_flows)[0])
    for name in sorted(os.listdir(os.path.join(data, "slips"))):
        if "zeek-labeled" in name:
            ids.append(table(os.path.join(data, "slips", name), args.ids_flows)[0])
    idmap = os.path.join(work, "intrusion.map")
    with open(idmap, "w") as f:
        f.write("# intrusion detection: Benign vs Malicious; the rest is not classified\n"
                "Background,\nUnknown,\n")
    tasks["intrusion"] = {"data": ids, "extra": ["--label-map", idmap]}

    # traffic classification: nDPI's application per flow (weft flows --labels puts it in the detail
    # column), one flow table per capture; the classes: the most frequent applications
    pcaps = sorted(os.listdir(os.path.join(data, "ndpi", "pcap")))
    labels = os.path.join(data, "ndpi", "labels")
    tdata, apps = [], collections.Counter()
    for p in pcaps:
        out, rows, hdr = table(os.path.join(data, "ndpi", "pcap", p), 0, ("--labels", labels))
        if rows:
            tdata.append(out)
            apps.update(r[hdr.index("detail")] for r in rows)
    keep = [a for a, _ in apps.most_common() if a not in ("", "Unknown")][:args.traffic_classes]
    tmap = os.path.join(work, "traffic.map")
    with open(tmap, "w") as f:
        f.write(f"# traffic classification: nDPI's {len(keep)} most frequent applications; the others are "
                "not classified\n")
        for a in sorted(apps):
            if a:
                f.write(f"{a},{a if a in keep else ''}\n")
    extra = ["--label-map", tmap]
    tasks["traffic"] = {"data": tdata, "extra": extra}
    notes["traffic_classes"] = {a: apps[a] for a in keep}

    # malware classification: the family of the file name (weft flows reads Malware_<Family>_<L4>.csv
    # as label Malware, detail <Family>); the map makes the family the class
    ustc = os.path.join(data, "ustc-tfc2016")
    mal, fams = [], set()
    for name in sorted(os.listdir(ustc)):
        m = re.match(r"Malware_(.+)_(TCP|UDP)\.csv$", name)
        if m:
            mal.append(table(os.path.join(ustc, name), args.malware_flows)[0])
            fams.add(m.group(1))
    mmap = os.path.join(work, "malware.map")
    with open(mmap, "w") as f:
        f.write("# malware classification: the family (from the file name) is the class\n")
        for fam in sorted(fams):
            f.write(f"{fam},{fam}\n")
    tasks["malware"] = {"data": mal, "extra": ["--label-map", mmap]}
    notes["malware_families"] = sorted(fams)

    # pretraining corpus: every task input above, unlabelled, plus the traffic no task uses (the
    # benign USTC-TFC2016 applications, the other Slips captures and CTU-13 flows)
    corpus = ids + tdata + mal
    for name in sorted(os.listdir(ustc)):
        if name.startswith("Benign_"):
            corpus.append(table(os.path.join(ustc, name), args.malware_flows)[0])
    for name in sorted(os.listdir(os.path.join(data, "slips"))):
        if "zeek-labeled" not in name:
            out, rows, _ = table(os.path.join(data, "slips", name), 0)
            if len(rows) >= 2:
                corpus.append(out)
    return tasks, corpus, notes


# --- 3. pretraining, 4. finetuning ----------------------------------------------------------------

def env1():
    e = dict(os.environ)
    e["OMP_WAIT_POLICY"] = "passive"  # shared cores: no spinning threads
    return e


def pretrain(args, weft, enc, corpus, work):
    out = os.path.join(work, "base.onnx")
    js = os.path.join(work, "pretrain.json")
    cmd = [weft, "pretrain", "--model", enc, "-o", out, "--json", js, "--epochs", str(args.pretrain_epochs),
           "--lr", str(args.pretrain_lr), "--neg-ratio", str(args.neg_ratio), "--batch-graphs",
           str(args.batch_graphs), "--seed", "1", "--threads", str(args.threads)]
    for d in corpus:
        cmd += ["--data", d]
    t = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env1())
    head = None
    for line in p.stdout:
        line = line.rstrip()
        if line.startswith("weft pretrain:") and head is None:
            head = line
        if line.startswith("epoch") or line.startswith("weft pretrain"):
            log("  " + line)
    if p.wait():
        raise SystemExit("weft pretrain failed")
    with open(js) as f:
        curve = json.load(f)
    curve["command"] = " ".join(os.path.relpath(c, ROOT) if os.path.exists(c) else c for c in cmd[:20]) + " ..."
    curve["summary"] = head
    curve["wall_s"] = time.time() - t
    return out, curve


def save_scaler(model, dst):
    """The feature scaling `weft pretrain` fitted on the pretraining corpus, from the encoder's
    metadata: both arms of the comparison scale the task's flows with it, so that they differ only in
    the encoder's starting weights."""
    import onnx
    meta = {p.key: p.value for p in onnx.load(model).metadata_props}
    with open(dst, "w") as f:
        f.write(meta["weft.scaler"])
    return dst


def finetune(args, weft, task, spec, mode, model, seed, work, scaler):
    out = os.path.join(work, "runs", f"{task}-{mode}-{seed}.onnx")
    js = out[:-5] + ".json"
    cmd = [weft, "finetune", "--base" if mode == "pretrained" else "--scratch", model, "-o", out,
           "--json", js, "--shots", str(args.shots), "--epochs", str(args.epochs), "--patience",
           str(args.patience), "--lr", str(args.lr), "--seed", str(seed), "--threads", "1", "--scaler", scaler]
    for d in spec["data"]:
        cmd += ["--data", d]
    cmd += spec["extra"]
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env1())
    rec = {"task": task, "mode": mode, "seed": seed, "wall_s": round(time.time() - t, 1), "rc": r.returncode}
    if r.returncode:
        rec["error"] = r.stderr.strip().splitlines()[-1:] or ["?"]
        return rec
    with open(js) as f:
        j = json.load(f)
    te = j["test"]
    rec.update({"macro_f1": te["macro_f1"], "accuracy": te["accuracy"], "weighted_f1": te["weighted_f1"],
                "roc_auc": te["roc_auc"], "test_flows": te["flows"], "split": j["split"], "classes": j["classes"],
                "best_epoch": j["best_epoch"], "epochs_run": len(j["epochs"])})
    return rec


# --- 5. report ---------------------------------------------------------------------------------

def ms(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return float("nan"), float("nan")
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def aggregate(runs):
    agg = {}
    for task in TASKS:
        a = {}
        for mode in ("pretrained", "scratch"):
            rs = [r for r in runs if r["task"] == task and r["mode"] == mode and r["rc"] == 0]
            a[mode] = {"n": len(rs)}
            for k in ("macro_f1", "accuracy", "weighted_f1"):
                a[mode][k], a[mode][k + "_std"] = ms([r[k] for r in rs])
        a["delta_macro_f1"] = a["pretrained"]["macro_f1"] - a["scratch"]["macro_f1"]
        a["delta_accuracy"] = a["pretrained"]["accuracy"] - a["scratch"]["accuracy"]
        # paired by seed (same split, same head initialisation)
        pairs = [(p["macro_f1"], s["macro_f1"]) for p in runs for s in runs
                 if p["task"] == s["task"] == task and p["mode"] == "pretrained" and s["mode"] == "scratch"
                 and p["seed"] == s["seed"] and p["rc"] == 0 and s["rc"] == 0]
        a["seeds_pretrained_better"] = sum(1 for p, s in pairs if p > s)
        a["seeds_paired"] = len(pairs)
        agg[task] = a
    deltas = [agg[t]["delta_macro_f1"] for t in TASKS]
    rel = [agg[t]["delta_macro_f1"] / agg[t]["scratch"]["macro_f1"] for t in TASKS
           if agg[t]["scratch"]["macro_f1"] > 0]
    agg["average_delta_macro_f1_points"] = 100 * statistics.mean(deltas)
    agg["average_relative_macro_f1_pct"] = 100 * statistics.mean(rel) if rel else float("nan")
    return agg


def plot(agg, curve, runs, svg_results, svg_pretrain):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "weft-paper-experiment"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = range(len(TASKS))
    for ax, k, title in ((axes[0], "macro_f1", "test macro F1"), (axes[1], "accuracy", "test accuracy")):
        for off, mode, col in ((-0.2, "pretrained", "#1f77b4"), (0.2, "scratch", "#ff7f0e")):
            m = [agg[t][mode][k] for t in TASKS]
            s = [agg[t][mode][k + "_std"] for t in TASKS]
            ax.bar([i + off for i in x], m, 0.4, yerr=s, capsize=4, color=col, label=mode)
            for i, t in enumerate(TASKS):
                ys = [r[k] for r in runs if r["task"] == t and r["mode"] == mode and r["rc"] == 0]
                ax.scatter([i + off] * len(ys), ys, s=8, color="black", zorder=3)
        ax.set_xticks(list(x))
        ax.set_xticklabels(["intrusion", "traffic (nDPI)", "malware family"])
        ax.set_ylim(0, 1.05)
        ax.set_title(title + " (mean ± std, 5 seeds; dots: seeds)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle("weft: few-shot finetuning from the link-prediction-pretrained encoder vs from scratch",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(svg_results, metadata={"Date": None})
    plt.close(fig)

    ep = [e["epoch"] for e in curve["epochs"]]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    axes[0].plot(ep, [e["loss"] for e in curve["epochs"]], "o-", label="training loss")
    axes[0].plot(ep, [e["val_loss"] for e in curve["epochs"]], "s-", label="held-out loss")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("binary cross-entropy")
    axes[0].legend(fontsize=8)
    axes[1].plot(ep, [e["val_auc"] for e in curve["epochs"]], "o-", color="#2ca02c")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("held-out link-prediction ROC-AUC")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_xticks(ep)
    fig.suptitle("weft pretrain: self-supervised link prediction (3-layer encoder, 712,448 parameters)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(svg_pretrain, metadata={"Date": None})
    plt.close(fig)


def pm(m, s):
    return f"{m:.3f} ± {s:.3f}"


def shown_command(argv):
    """The command as the user typed it: without the options bench/paper_experiment.sh adds."""
    shown, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--t0", "--build-s", "--weft"):
            skip = True
        elif not a.startswith(("--t0=", "--build-s=", "--weft=")):
            shown.append(a)
    return " ".join(["bench/paper_experiment.sh"] + shown)


def readme_section(args, res):
    agg, cfg, curve = res["aggregate"], res["config"], res["pretrain"]
    L = [BEGIN, "## Paper experiment: pretrained vs from scratch, few-shot (`bench/paper_experiment.sh`)", ""]
    L.append("`bench/paper_experiment.sh` reproduces the experiment of the seed paper (arXiv 2409.08111, "
             "`../shared/seeds`) in one command: it builds weft (Release, `build-bench/`), exports the paper's "
             f"encoder ({cfg['encoder_layers']} layers of temporal + spatial heterogeneous GraphSAGE, hidden "
             f"{cfg['hidden']}, LeakyReLU: {cfg['encoder_params']:,} parameters; the committed "
             "`models/traffic_encoder_*` have 2 layers) with `models/traffic_models.py`, pretrains it with "
             "`weft pretrain` (self-supervised link prediction) on unlabelled traffic, and finetunes it with "
             "`weft finetune --base` and, from the same initial weights, `weft finetune --scratch` on three "
             f"few-shot tasks, {cfg['seeds']} seeds each (the seed fixes the split, the head's initial weights "
             "and the graph order; both arms use the same seeds, shots, epochs and data). Graphs: the "
             "reference configuration (5 s windows, window memory 5, flow memory 20). Test metrics are per flow "
             "on the flows held out of training and validation.")
    L.append("")
    L.append(f"Run of {res['date']} (`{res['command']}`), {res['wall_s'] / 60:.1f} min wall in total on the "
             f"development machine (2 shared cores; build {res['timings']['build_s']:.0f} s, pretraining "
             f"{res['timings']['pretrain_s']:.0f} s, {len(res['runs'])} finetuning runs "
             f"{res['timings']['finetune_s']:.0f} s, two at a time on one thread each):")
    L.append("")
    L.append("| task | classes | train flows (shots × classes) | test flows | macro F1 pretrained | macro F1 scratch "
             "| Δ macro F1 | accuracy pretrained | accuracy scratch | seeds pretrained better |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for t in TASKS:
        a = agg[t]
        r0 = next((r for r in res["runs"] if r["task"] == t and r["rc"] == 0), {})
        ncls = len(r0.get("classes", []))
        L.append(f"| {TASK_TITLE[t]} | {ncls} | {r0.get('split', {}).get('train', '-')} | "
                 f"{r0.get('test_flows', '-')} | {pm(a['pretrained']['macro_f1'], a['pretrained']['macro_f1_std'])} | "
                 f"{pm(a['scratch']['macro_f1'], a['scratch']['macro_f1_std'])} | "
                 f"{100 * a['delta_macro_f1']:+.1f} points | "
                 f"{pm(a['pretrained']['accuracy'], a['pretrained']['accuracy_std'])} | "
                 f"{pm(a['scratch']['accuracy'], a['scratch']['accuracy_std'])} | "
                 f"{a['seeds_pretrained_better']} of {a['seeds_paired']} |")
    L.append("")
    d, rel = agg["average_delta_macro_f1_points"], agg["average_relative_macro_f1_pct"]
    rels = ", ".join(f"{t} {100 * agg[t]['delta_macro_f1'] / agg[t]['scratch']['macro_f1']:+.0f}%" for t in TASKS
                     if agg[t]["scratch"]["macro_f1"] > 0)
    L.append(f"**Average improvement in macro F1 over the three tasks: {d:+.2f} points** (the mean of the three "
             f"differences of mean macro F1; the mean of the relative changes, {rels}, is {rel:+.1f}%). The paper "
             "reports +6.87% on average for its pretrained model over training from scratch.")
    L.append("")
    per = ", ".join(f"{t} {100 * agg[t]['delta_macro_f1']:+.1f}" for t in TASKS)
    if d >= 6.87:
        verdict = "Pretraining helps here on average, as much as the paper reports or more"
    elif d > 0:
        verdict = "Pretraining helps here on average, less than the paper reports"
    else:
        verdict = "Pretraining does not help here on average: this run does not reproduce the paper's gain"
    within = [t for t in TASKS if abs(agg[t]["delta_macro_f1"]) <= max(agg[t]["pretrained"]["macro_f1_std"],
                                                                      agg[t]["scratch"]["macro_f1_std"])]
    spread = (f" On {', '.join(within)} the difference is within one standard deviation over the seeds."
              if within else "")
    L.append(f"{verdict} (per task, points of macro F1: {per}).{spread} See below for how this setting "
             "differs from the paper's.")
    L.append("")
    obs = []
    for t in TASKS:
        for mode in ("pretrained", "scratch"):
            rs = [r for r in res["runs"] if r["task"] == t and r["mode"] == mode and r["rc"] == 0]
            if rs:
                obs.append(f"{t} {mode} {statistics.mean(r['best_epoch'] for r in rs):.1f} "
                           f"(ran {statistics.mean(r['epochs_run'] for r in rs):.1f})")
    L.append("Best validation epoch, mean over the seeds (epochs run before early stopping or the cap): "
             + "; ".join(obs) + ". Where the best epoch is the last one, finetuning was still improving when "
             "the epoch cap stopped it.")
    L.append("")
    ep = curve["epochs"]
    summ = re.sub(r", \d+ parameters$", "", curve["summary"].replace("weft pretrain: ", ""))
    L.append(f"Pretraining ({summ}): {len(ep)} epochs, batches of "
             f"{cfg['batch_graphs']} graphs, Adam lr {cfg['pretrain_lr']}, negative ratio {cfg['neg_ratio']}, "
             f"supervision fraction 0.2; held-out link-prediction loss {ep[0]['val_loss']:.3f} → "
             f"{ep[-1]['val_loss']:.3f}, ROC-AUC {ep[0]['val_auc']:.3f} → {ep[-1]['val_auc']:.3f} "
             f"({curve['wall_s']:.0f} s).")
    L.append("")
    L.append("![few-shot results](paper_experiment.svg)")
    L.append("")
    L.append("![pretraining curves](paper_experiment_pretrain.svg)")
    L.append("")
    L.append("What was chosen, and why (the whole run must fit in about 30 minutes on 2 shared cores; every number "
             "is an option of `bench/paper_experiment.py`):")
    L.append("")
    L.append(f"- **Pretraining data** (labels ignored): every task input below, unlabelled, plus the traffic no task "
             f"uses (the 8 benign USTC-TFC2016 applications, first {cfg['malware_flows']} flows each; the Slips "
             "captures and CTU-13 Argus flows): the paper pretrains on unlabelled traffic and evaluates on tasks; "
             "here the unlabelled flows of the task captures are part of the pretraining set (a transductive "
             "setting, as `../shared/data/README.md` allows: labels are never read by `weft pretrain`), because "
             "each collection has its own flow features (pcap statistics, Zeek / Argus fields, Wireshark "
             "conversation totals) and there is no other unlabelled traffic of each kind to pretrain on.")
    L.append(f"- **Flows**: every input goes through `weft flows`; flows lasting more than {cfg['max_duration_s']:g} s "
             "are left out of every task and of the pretraining set. A flow belongs to every 5 s window its "
             "lifetime overlaps, so the hour-long flows of the USTC-TFC2016 and Stratosphere captures each "
             "made up to 70 graphs of one or two nodes, and a `weft finetune` step costs about the same on a "
             "tiny graph as on a small one (with them, 2 epochs of the malware task took 111 s instead of 20 s).")
    L.append(f"- **Intrusion detection**: `stratosphere/*` and the labelled Zeek log of `slips/`, the first "
             f"{cfg['ids_flows']} flows (by start time) of each, classes Benign / Malicious (Background and "
             "Unknown are not classified).")
    tc = ", ".join(f"{k} ({v})" for k, v in res["notes"]["traffic_classes"].items())
    L.append(f"- **Traffic classification**: all `ndpi/pcap` captures, one flow table each, labelled with their "
             f"`ndpi/labels/*.out` (`weft flows --labels`: nDPI's application of each 5-tuple becomes the flow's "
             f"detail, as `weft finetune --ndpi` does); the class is nDPI's application, the {cfg['traffic_classes']} most frequent (flows): {tc}; other "
             "flows stay in the graphs unclassified.")
    L.append(f"- **Malware classification**: the 10 `Malware_*` files of `ustc-tfc2016`, the first "
             f"{cfg['malware_flows']} flows of each; `weft flows` reads the family from the file name into the "
             f"flow's detail and a generated `--label-map` makes it the class ({len(res['notes']['malware_families'])} "
             "families; Zeus has a TCP and a UDP file).")
    L.append(f"- **Few-shot**: `--shots {cfg['shots']}` training flows per class (the paper's setting is a few "
             f"percent of the flows or k per class); the other flows split half validation (early stopping, "
             f"patience {cfg['patience']}), half test. Finetuning: at most {cfg['epochs']} epochs, Adam lr "
             f"{cfg['lr']}, the whole encoder trained (not frozen), head Linear(64) → LeakyReLU → Linear.")
    L.append(f"- **Budget**: pretraining {cfg['pretrain_epochs']} epochs over the corpus; prefixes of "
             f"{cfg['ids_flows']} / {cfg['malware_flows']} flows per input keep a finetuning run to about a minute "
             "(the measured wall time of every run is in the JSON). `--threads 1` per process and `OMP_WAIT_POLICY=passive`: on shared cores, spinning OpenMP "
             "threads made a two-thread run up to 10× slower.")
    L.append("- **Not as in the paper**: far less pretraining data and time (the paper pretrains on large "
             "captures for many epochs), smaller task sets, the paper's exact datasets, splits and shot counts "
             "are not known (`../shared/seeds/model-notes.md`), and only " f"{cfg['seeds']} seeds per arm.")
    L.append("- **One feature scaling for both arms**: the scaling `weft pretrain` fitted on the pretraining "
             "corpus (carried in the encoder's metadata) scales every task's flows in the pretrained and the "
             "scratch runs alike (`weft finetune --scaler`), so the two arms differ only in the encoder's "
             "starting weights.")
    L.append("")
    L.append(f"Per-run results (metrics, splits, epochs, wall time) and the pretraining curve: "
             f"`{res['json']}`.")
    L.append(END)
    return "\n".join(L) + "\n"


def write_readme(section):
    path = os.path.join(ROOT, "bench", "README.md")
    with open(path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        if text[b:b + 1] == "\n":
            b += 1
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


# --- main ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", default=os.path.join(ROOT, "build-bench", "weft"))
    ap.add_argument("--data", default=os.environ.get("WEFT_DATA", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", ".work-paper"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pretrain-epochs", type=int, default=10)
    ap.add_argument("--pretrain-lr", type=float, default=1e-3)
    ap.add_argument("--neg-ratio", type=int, default=1)
    ap.add_argument("--batch-graphs", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="threads of weft pretrain")
    ap.add_argument("--jobs", type=int, default=2, help="finetuning runs at a time (one thread each)")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--ids-flows", type=int, default=1500)
    ap.add_argument("--malware-flows", type=int, default=150)
    ap.add_argument("--traffic-classes", type=int, default=10)
    ap.add_argument("--max-duration", type=float, default=30.0,
                    help="leave out flows lasting longer (seconds; 0: keep all)")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--t0", type=float, default=None, help="start time of the whole command (epoch seconds)")
    ap.add_argument("--build-s", type=float, default=0.0)
    ap.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    ap.add_argument("--report", metavar="JSON", help="only write the plots and the README section again from "
                    "the results of an earlier run")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            res = json.load(f)
        res["command"] = shown_command(res["command"].split()[1:])
        with open(args.report, "w") as f:
            json.dump(res, f, indent=1)
        plot(res["aggregate"], res["pretrain"], res["runs"], os.path.join(ROOT, "bench", "paper_experiment.svg"),
             os.path.join(ROOT, "bench", "paper_experiment_pretrain.svg"))
        write_readme(readme_section(args, res))
        return
    t0 = args.t0 or time.time()
    if not os.path.isdir(args.data):
        raise SystemExit(f"no traffic data at {args.data} (set WEFT_DATA)")
    work = os.path.abspath(args.work)
    os.makedirs(os.path.join(work, "runs"), exist_ok=True)
    weft = os.path.abspath(args.weft)

    log(f"exporting the {args.layers}-layer encoder")
    enc = os.path.join(work, f"encoder_l{args.layers}.onnx")
    params = export_encoder(enc, args.layers, args.hidden, seed=7)
    log(f"  {params:,} parameters -> {os.path.relpath(enc, ROOT)}")

    log("flow tables")
    tasks, corpus, notes = prepare(args, weft, work)
    tasks = {t: tasks[t] for t in args.tasks.split(",")}

    log(f"pretraining on {len(corpus)} inputs")
    t = time.time()
    base, curve = pretrain(args, weft, enc, corpus, work)
    pre_s = time.time() - t
    scaler = save_scaler(base, os.path.join(work, "pretrain.scaler"))

    order = sorted(tasks, key=lambda t: ["malware", "intrusion", "traffic"].index(t))  # the longest first
    jobs = [(task, mode, seed) for task in order for seed in range(1, args.seeds + 1)
            for mode in ("pretrained", "scratch")]
    log(f"finetuning: {len(jobs)} runs, {args.jobs} at a time")
    t = time.time()
    runs = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        futs = {ex.submit(finetune, args, weft, task, tasks[task], mode, base if mode == "pretrained" else enc,
                          seed, work, scaler): (task, mode, seed) for task, mode, seed in jobs}
        for fu in concurrent.futures.as_completed(futs):
            r = fu.result()
            runs.append(r)
            if r["rc"]:
                log(f"  {r['task']:9s} {r['mode']:10s} seed {r['seed']}: FAILED {r.get('error')}")
            else:
                log(f"  {r['task']:9s} {r['mode']:10s} seed {r['seed']}: macro F1 {r['macro_f1']:.4f} accuracy "
                    f"{r['accuracy']:.4f} ({r['epochs_run']} epochs, {r['wall_s']:.0f} s)")
    ft_s = time.time() - t
    runs.sort(key=lambda r: (TASKS.index(r["task"]), r["mode"], r["seed"]))
    agg = aggregate(runs) if set(tasks) == set(TASKS) else {}

    date = datetime.date.today().isoformat()
    rel_json = f"bench/results/paper-experiment-{date}.json"
    res = {"date": date, "command": shown_command(sys.argv[1:]),
           "json": rel_json, "wall_s": time.time() - t0,
           "timings": {"build_s": args.build_s, "pretrain_s": pre_s, "finetune_s": ft_s},
           "config": {"encoder_layers": args.layers, "hidden": args.hidden, "encoder_params": params,
                      "window_s": 5, "window_memory": 5, "flow_memory": 20, "seeds": args.seeds,
                      "shots": args.shots, "epochs": args.epochs, "patience": args.patience, "lr": args.lr,
                      "pretrain_epochs": args.pretrain_epochs, "pretrain_lr": args.pretrain_lr,
                      "neg_ratio": args.neg_ratio, "batch_graphs": args.batch_graphs,
                      "ids_flows": args.ids_flows, "malware_flows": args.malware_flows,
                      "traffic_classes": args.traffic_classes,
                      "max_duration_s": args.max_duration},
           "pretrain_corpus": [os.path.relpath(c, ROOT) for c in corpus],
           "tasks": {t: {"data": [os.path.relpath(d, ROOT) for d in s["data"]],
                         "options": [os.path.relpath(x, ROOT) if os.path.exists(x) else x for x in s["extra"]]}
                     for t, s in tasks.items()},
           "notes": notes, "pretrain": curve, "runs": runs, "aggregate": agg}
    # the python-only timings end here; the report writing below takes a second
    if not agg:
        log("not all tasks ran: no report")
        print(json.dumps(runs, indent=1))
        return
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    plot(agg, curve, runs, os.path.join(ROOT, "bench", "paper_experiment.svg"),
         os.path.join(ROOT, "bench", "paper_experiment_pretrain.svg"))
    res["wall_s"] = time.time() - t0
    with open(os.path.join(ROOT, rel_json), "w") as f:
        json.dump(res, f, indent=1)
    if not args.no_readme:
        write_readme(readme_section(args, res))
    log(f"done in {res['wall_s'] / 60:.1f} min")
    for t in TASKS:
        a = agg[t]
        log(f"  {t:9s} macro F1 pretrained {pm(a['pretrained']['macro_f1'], a['pretrained']['macro_f1_std'])} "
            f"scratch {pm(a['scratch']['macro_f1'], a['scratch']['macro_f1_std'])}; accuracy pretrained "
            f"{pm(a['pretrained']['accuracy'], a['pretrained']['accuracy_std'])} scratch "
            f"{pm(a['scratch']['accuracy'], a['scratch']['accuracy_std'])}")
    log(f"  average macro F1 improvement {agg['average_delta_macro_f1_points']:+.2f} points "
        f"({agg['average_relative_macro_f1_pct']:+.1f}% relative)")


if __name__ == "__main__":
    main()
