#!/usr/bin/env python3
"""Writes tests/data/losses_optim_ref.txt, the PyTorch reference values of tests/unit/test_losses_optim.c.

Each line is `name count v0 v1 ...` (values printed with %.17g): the inputs of a case (drawn here from a
seeded generator) and what PyTorch computes from them in float64 — loss values and their gradients
(F.cross_entropy, F.nll_loss, F.binary_cross_entropy_with_logits, F.mse_loss), five steps of
torch.optim.SGD / Adam / AdamW with a learning rate changed before each step, torch.nn.utils.
clip_grad_norm_, and the learning rates of torch.optim.lr_scheduler's LinearLR, CosineAnnealingLR,
StepLR, SequentialLR and LambdaLR.

Hyperparameters the ops take as float attributes (momentum, betas, epsilon, label smoothing, ...) are
chosen exactly representable in float32, so that PyTorch and weft use the same numbers.

Usage: python tests/unit/gen_losses_optim.py   (needs torch; run from the repository root)
"""
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)
lines = []


def put(name, t):
    vals = t.detach().reshape(-1).tolist() if torch.is_tensor(t) else list(t)
    lines.append(name + " " + str(len(vals)) + " " + " ".join("%.17g" % float(v) for v in vals))


# --- cross-entropy: x [N=3, C=4, d=2], targets [3, 2] with one ignored position, class weights ---
x = torch.randn(3, 4, 2)
tgt = torch.tensor([[0, 3], [2, -100], [1, 1]])
w = torch.tensor([0.5, 1.0, 2.0, 0.25])
put("xent_x", x)
put("xent_t", tgt)
put("xent_w", w)
for case, (weight, eps) in {"w_ls": (w, 0.125), "w": (w, 0.0), "ls": (None, 0.25)}.items():
    for red in ("none", "sum", "mean"):
        put("sce_%s_%s" % (case, red), F.cross_entropy(x, tgt, weight=weight, label_smoothing=eps, reduction=red))
    xg = x.clone().requires_grad_(True)
    F.cross_entropy(xg, tgt, weight=weight, label_smoothing=eps, reduction="mean").backward()
    put("sce_%s_grad" % case, xg.grad)
# NLL on log-probabilities
lp = F.log_softmax(x, dim=1)
put("nll_x", lp)
for red in ("none", "sum", "mean"):
    put("nll_w_" + red, F.nll_loss(lp, tgt, weight=w, reduction=red))
lpg = lp.clone().requires_grad_(True)
F.nll_loss(lpg, tgt, weight=w, reduction="mean").backward()
put("nll_w_grad", lpg.grad)

# --- BCE with logits: x, soft targets [3, 4], weight [4], pos_weight [4] ---
bx = torch.randn(3, 4) * 3
bt = torch.rand(3, 4)
bw = torch.tensor([1.0, 0.5, 2.0, 1.5])
bpw = torch.tensor([3.0, 1.0, 0.5, 2.0])
for n, v in (("bce_x", bx), ("bce_t", bt), ("bce_w", bw), ("bce_pw", bpw)):
    put(n, v)
for red in ("none", "sum", "mean"):
    put("bce_" + red, F.binary_cross_entropy_with_logits(bx, bt, weight=bw, pos_weight=bpw, reduction=red))
    put("bce_plain_" + red, F.binary_cross_entropy_with_logits(bx, bt, reduction=red))
xg, tg = bx.clone().requires_grad_(True), bt.clone().requires_grad_(True)
F.binary_cross_entropy_with_logits(xg, tg, weight=bw, pos_weight=bpw, reduction="mean").backward()
put("bce_grad_x", xg.grad)
put("bce_grad_t", tg.grad)

# --- MSE ---
mx, mt = torch.randn(2, 3), torch.randn(2, 3)
put("mse_x", mx)
put("mse_t", mt)
for red in ("none", "sum", "mean"):
    put("mse_" + red, F.mse_loss(mx, mt, reduction=red))

# --- optimizers: param [2, 3], five steps with given gradients and learning rates ---
p0 = torch.randn(2, 3)
grads = [torch.randn(2, 3) for _ in range(5)]
lrs = [0.1, 0.08, 0.06, 0.05, 0.03]
put("opt_p0", p0)
put("opt_g", torch.stack(grads))
put("opt_lr", lrs)
EPS = 2.0 ** -27  # about 7.45e-9, exact in float32
configs = {
    "sgd": (torch.optim.SGD, dict(weight_decay=0.0625)),
    "sgd_mom": (torch.optim.SGD, dict(momentum=0.875, dampening=0.25, weight_decay=0.0625)),
    "sgd_nesterov": (torch.optim.SGD, dict(momentum=0.875, nesterov=True)),
    "adam": (torch.optim.Adam, dict(betas=(0.875, 0.984375), eps=EPS, weight_decay=0.0625)),
    "adam_ams": (torch.optim.Adam, dict(betas=(0.875, 0.984375), eps=EPS, amsgrad=True)),
    "adamw": (torch.optim.AdamW, dict(betas=(0.875, 0.984375), eps=EPS, weight_decay=0.25)),
}
for name, (cls, kw) in configs.items():
    p = p0.clone().requires_grad_(True)
    opt = cls([p], lr=lrs[0], foreach=False, **kw)
    out = []
    for s in range(5):
        opt.param_groups[0]["lr"] = lrs[s]
        p.grad = grads[s].clone()
        opt.step()
        out.append(p.detach().clone())
    put("opt_" + name, torch.stack(out))

# --- clip_grad_norm_ over three gradients ---
cg = [torch.randn(2, 3), torch.randn(4), torch.randn(1)]
put("clip_g", torch.cat([g.reshape(-1) for g in cg]))
for name, (mn, nt) in {"clip_half": (0.5, 2.0), "clip_big": (100.0, 2.0), "clip_inf": (0.5, math.inf),
                       "clip_p3": (0.5, 3.0)}.items():
    gs = [torch.nn.Parameter(torch.zeros_like(g)) for g in cg]
    for q, g in zip(gs, cg):
        q.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(gs, max_norm=mn, norm_type=nt, foreach=False)
    put(name, torch.cat([q.grad.reshape(-1) for q in gs] + [total.reshape(1)]))


# --- schedules: lr used by update k = 0, 1, ... (the lr before the k-th scheduler.step()) ---
def lrs_of(make, n):
    q = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([q], lr=0.5)
    sch = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return out


S = torch.optim.lr_scheduler
put("sched_linear", lrs_of(lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4), 8))
put("sched_cosine", lrs_of(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 11))
put("sched_step", lrs_of(lambda o: S.StepLR(o, step_size=3, gamma=0.5), 10))
put("sched_warm_cosine", lrs_of(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.25, total_iters=4),
                                                             S.CosineAnnealingLR(o, T_max=10, eta_min=0.01)],
                                                         milestones=[4]), 15))
put("sched_warm_step", lrs_of(lambda o: S.LambdaLR(o, lambda k: 0.25 + 0.75 * k / 4 if k < 4 else 0.5 ** ((k - 4) // 3)), 14))

# --- one training step as one plan: loss = MSE(x @ W, y), the gradient clipped to norm 0.25, then Adam ---
tx, ty, W0 = torch.randn(4, 3), torch.randn(4, 2), torch.randn(3, 2)
put("plan_x", tx)
put("plan_y", ty)
put("plan_w0", W0)
W = W0.clone().requires_grad_(True)
opt = torch.optim.Adam([W], lr=lrs[0], betas=(0.875, 0.984375), eps=EPS, foreach=False)
losses, ws = [], []
for s in range(5):
    opt.param_groups[0]["lr"] = lrs[s]
    opt.zero_grad()
    loss = F.mse_loss(tx @ W, ty)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([W], max_norm=0.25, foreach=False)
    opt.step()
    losses.append(loss.item())
    ws.append(W.detach().clone())
put("plan_loss", losses)
put("plan_w", torch.stack(ws))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "losses_optim_ref.txt")
with open(path, "w") as f:
    f.write("# written by tests/unit/gen_losses_optim.py (torch %s): name count values...\n" % torch.__version__)
    f.write("\n".join(lines) + "\n")
print("wrote", os.path.normpath(path), len(lines), "records")
