#!/usr/bin/env python3
"""Fits the coefficients of weft_verf (ops/cpu/vmath.h) and checks them; prints its Horner lines.

    bench/.venv/bin/python ops/cpu/tools/fit_erf.py      (needs numpy and mpmath)

erf is odd, so only a = |x| is approximated, and erf(x) = copysign(erf(a), x):

  a <  SPLIT   erf(a) = a * P(a^2)                P fitted to erf(a) / a for relative error
  a >= SPLIT   erf(a) = 1 - exp(-a^2) * Q(a - MID) Q fitted to erfcx(a) = e^(a^2) erfc(a), weighted by
                                                  e^(-a^2) / erf(a): the error that reaches erf
  a >= 6       a is clamped to 6 first: e^-36 Q(6) ~ 2e-17 < 2^-54, so 1 - it rounds to 1.0 exactly,
               as erf does in double from a ~ 5.92 on.

Each fit is a weighted least-squares fit in the Chebyshev basis on Chebyshev nodes of the interval
(close to the minimax polynomial), solved in mpmath at 40 digits and converted in that precision to
the monomial basis of the variable the C code evaluates, then rounded to double.
The check evaluates the polynomials as the C code does (Horner in double, no fused multiply-adds,
numpy's exp for e^(-a^2)) on a dense grid and reports the largest relative error against mpmath's erf.
"""
import sys
import warnings

import mpmath as mp
import numpy as np

mp.mp.dps = 40
SPLIT = 1.5
MID = 3.75          # Q's variable is a - MID, a in [SPLIT, 6]
DEG_P = 13          # P: degree in t = a^2 on [0, SPLIT^2]
DEG_Q = 15          # Q: degree in a - MID on [SPLIT, 6]
NODES = 300


def chebfit_mp(u, y, w, deg):
    """Weighted least-squares Chebyshev coefficients, solved in mpmath's precision (u: nodes in
    [-1, 1]; y, w: mpf values and weights)."""
    rows = []
    for ui, wi in zip(u, w):
        ui = mp.mpf(float(ui))
        t = [mp.mpf(1), ui]
        while len(t) <= deg:
            t.append(2 * ui * t[-1] - t[-2])
        rows.append([wi * tk for tk in t[:deg + 1]])
    c, _ = mp.qr_solve(mp.matrix(rows), mp.matrix([wi * yi for yi, wi in zip(y, w)]))
    return [c[k] for k in range(deg + 1)]


def cheb_nodes(lo, hi, n):
    k = np.arange(n)
    u = np.cos(np.pi * (k + 0.5) / n)
    return u, [mp.mpf(lo) + (mp.mpf(hi) - lo) * (mp.mpf(float(ui)) + 1) / 2 for ui in u]


def cheb_to_monomial(c, lo, hi, shift):
    """Chebyshev series c in u = (2v - lo - hi) / (hi - lo) -> monomial coefficients in w = v - shift."""
    lo, hi, shift = mp.mpf(lo), mp.mpf(hi), mp.mpf(shift)
    n = len(c)
    # u = alpha * w + beta
    alpha = 2 / (hi - lo)
    beta = (2 * shift - lo - hi) / (hi - lo)
    # T_k(u) as monomials in w, by the recurrence T_{k+1} = 2 u T_k - T_{k-1}
    t_prev, t_cur = [mp.mpf(1)], [beta, alpha]
    out = [mp.mpf(0)] * n
    out[0] += c[0]
    if n > 1:
        out[0] += c[1] * beta
        out[1] += c[1] * alpha
    for k in range(2, n):
        nxt = [mp.mpf(0)] * (k + 1)
        for i, v in enumerate(t_cur):
            nxt[i] += 2 * beta * v
            nxt[i + 1] += 2 * alpha * v
        for i, v in enumerate(t_prev):
            nxt[i] -= v
        t_prev, t_cur = t_cur, nxt
        for i, v in enumerate(t_cur):
            out[i] += c[k] * v
    return [float(v) for v in out]


def fit_p():
    """P(t) = 2/sqrt(pi) + t R(t): the constant term is exact, so erf(a) ~ a 2/sqrt(pi) for tiny a has
    erf's own rounding; R is fitted to (f(t) - f(0)) / t weighted for the relative error of f."""
    c0 = 2 / mp.sqrt(mp.pi)
    f = lambda t: mp.erf(mp.sqrt(t)) / mp.sqrt(t)
    lo, hi = 0.0, SPLIT * SPLIT
    u, ts = cheb_nodes(lo, hi, NODES)
    y = [(f(t) - c0) / t for t in ts]
    w = [t / f(t) for t in ts]
    c = chebfit_mp(u, y, w, DEG_P - 1)
    return [float(c0)] + cheb_to_monomial(c, lo, hi, 0.0)


def fit_q():
    erfcx = lambda a: mp.erfc(a) * mp.exp(a * a)
    lo, hi = SPLIT, 6.0
    u, xs = cheb_nodes(lo, hi, NODES)
    y = [erfcx(a) for a in xs]
    w = [mp.exp(-a * a) / mp.erf(a) for a in xs]
    c = chebfit_mp(u, y, w, DEG_Q)
    return cheb_to_monomial(c, lo, hi, MID)


def horner(coef, v):
    p = np.full_like(v, coef[-1])
    for c in reversed(coef[:-1]):
        p = p * v + c
    return p


def erf_model(x, P, Q):
    a = np.minimum(np.abs(x), 6.0)
    small = a * horner(P, a * a)
    big = 1.0 - np.exp(-(a * a)) * horner(Q, a - MID)
    return np.copysign(np.where(a < SPLIT, small, big), x)


def main():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P, Q = fit_p(), fit_q()
    grid = np.concatenate([np.linspace(0, 7, 14001)[1:], np.geomspace(1e-300, 1.0, 2000)])
    got = erf_model(grid, P, Q)
    ref = np.array([float(mp.erf(mp.mpf(float(v)))) for v in grid])
    rel = np.abs(got - ref) / np.abs(ref)
    worst = int(np.argmax(rel))
    for lo, hi in ((0, 1e-3), (1e-3, 0.5), (0.5, 1.0), (1.0, SPLIT), (SPLIT, 3.0), (3.0, 7.0)):
        sel = (grid >= lo) & (grid < hi)
        print(f"  a in [{lo:g}, {hi:g}): max relative error {rel[sel].max():.2e}", file=sys.stderr)
    print(f"/* fit_erf.py: SPLIT {SPLIT}, MID {MID}, P degree {DEG_P}, Q degree {DEG_Q}; max relative error "
          f"of the double model vs mpmath {rel[worst]:.2e} at x = {grid[worst]:.6g} */", file=sys.stderr)
    # the Horner lines of weft_verf, highest degree first; P padded with zeros to Q's degree
    Pp = list(P) + [0.0] * (len(Q) - len(P))
    hx = lambda v: float.hex(v) if v != 0 else "0.0"
    print("    double p = small ? %s : %s;" % (hx(Pp[-1]), hx(Q[-1])))
    for pc, qc in zip(reversed(Pp[:-1]), reversed(Q[:-1])):
        print("    p = p * w + (small ? %s : %s);" % (hx(pc), hx(qc)))
    print("/* as decimals: P %s */" % ", ".join(repr(v) for v in P), file=sys.stderr)
    print("/* Q %s */" % ", ".join(repr(v) for v in Q), file=sys.stderr)


if __name__ == "__main__":
    main()
