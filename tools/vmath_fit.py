#!/usr/bin/python3
"""Fits the polynomial coefficients of compiler/cg_vmath.c.

Each approximation is linear in its coefficients: target(t) ~ sum_k c_k * t^k
on an interval, with a weight that turns the fitted error into the error of
the final result (relative error for exp/log/tanh/erf near 0, absolute error
for the erfc part). The fit is Lawson's iteratively reweighted least
squares on a dense grid (it converges to the minimax polynomial), with the
targets computed in high precision by mpmath. The coefficients are then
rounded to float one at a time, lowest order first, refitting the remaining
ones after each rounding so that the rounding errors are absorbed by the
higher-order terms.

Run:  /usr/bin/python3 tools/vmath_fit.py   (needs numpy and mpmath)
It prints, per approximation, the weighted minimax error in double precision
before and after rounding the coefficients, and the coefficients as C hex
floats, which is how they appear in compiler/cg_vmath.c.
"""
import struct
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 40


def f32(v):
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def hexf(v):
    """A float as a C99 hex literal with the f suffix."""
    v = f32(v)
    if v == 0.0:
        return "0.0f"
    s = float(v).hex()  # e.g. 0x1.5555560000000p-3
    mant, exp = s.split("p")
    mant = mant.rstrip("0")
    if mant.endswith("."):
        mant = mant[:-1]
    return "%sp%sf" % (mant, exp)


def minimax(grid, target, weight, powers, fixed=None, iters=400):
    """Minimises max |weight * (target - sum c_k grid^k)| over the grid for the
    powers not in `fixed` (a map from powers to already chosen coefficients),
    by Lawson's iteratively reweighted least squares, which converges to the
    minimax solution on the grid. Returns (coefficients by power, max error)."""
    fixed = dict(fixed or {})
    free = [p for p in powers if p not in fixed]
    g = target - sum(c * grid**p for p, c in fixed.items())
    if not free:
        return dict(fixed), float(np.max(np.abs(weight * g)))
    basis = np.stack([grid**p for p in free], axis=1)
    scale = np.max(np.abs(basis), axis=0)  # column scaling for conditioning
    basis = basis / scale
    u = np.full(len(grid), 1.0 / len(grid))
    best = None
    for _ in range(iters):
        s = np.sqrt(u) * weight
        c = np.linalg.lstsq(basis * s[:, None], g * s, rcond=None)[0]
        err = weight * (g - basis @ c)
        emax = float(np.max(np.abs(err)))
        if best is None or emax < best[1]:
            best = (c / scale, emax)
        u = u * np.abs(err)
        u = u / u.sum()
    out = dict(fixed)
    out.update({p: float(v) for p, v in zip(free, best[0])})
    return out, best[1]


def fit_rounded(grid, target, weight, powers, fixed=None):
    coef, e0 = minimax(grid, target, weight, powers, fixed)
    fixed = dict(fixed or {})
    for p in powers:
        if p in fixed:
            continue
        coef, _ = minimax(grid, target, weight, powers, fixed)
        fixed[p] = f32(coef[p])
    err = weight * (target - sum(c * grid**p for p, c in fixed.items()))
    return fixed, e0, float(np.max(np.abs(err)))


def chebgrid(a, b, m=3000):
    t = (1 - np.cos(np.pi * (np.arange(m) + 0.5) / m)) / 2
    return a + (b - a) * t


def report(name, coef, e0, e1, powers):
    print("%s: max weighted error %.3g (double coefficients), %.3g (float coefficients)" % (name, e0, e1))
    for p in powers:
        print("    c%-2d = %-18s /* %.9g */" % (p, hexf(coef[p]), coef[p]))


def mpvec(fn, xs):
    return np.array([float(fn(mp.mpf(float(x)))) for x in xs])


def fit_exp(deg):
    # exp(r) = 1 + r + r^2 * P(r) for |r| <= ln2/2 (with a little margin)
    h = 0.3466 * 1.002
    r = chebgrid(-h, h)
    r = r[r != 0]
    tgt = mpvec(lambda v: (mp.exp(v) - 1 - v) / v**2, r)
    w = r**2 / np.exp(r)
    powers = list(range(0, deg - 1))
    coef, e0, e1 = fit_rounded(r, tgt, w, powers)
    report("exp: P(r), exp(r) = 1 + r*(1 + r*P(r)), |r| <= %.4f" % h, coef, e0, e1, powers)


def fit_log(deg):
    # log1p(f) = f - f^2/2 + s*(f^2/2 + R(z)), s = f/(2+f), z = s^2,
    # R(z) = 2 atanh(s)/s - 2 = sum_k c_k z^k, k >= 1
    smax = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)
    z = chebgrid(0, float(smax**2) * 1.002)
    tgt = mpvec(lambda v: 2 * mp.atanh(mp.sqrt(v)) / mp.sqrt(v) - 2 if v > 0 else mp.mpf(0), z)
    w = np.full_like(z, 0.5)  # the error s*dR relative to log1p(f) ~ 2s
    powers = list(range(1, deg + 1))
    coef, e0, e1 = fit_rounded(z, tgt, w, powers)
    report("log: R(z), z = s^2 <= %.5f" % (float(smax**2) * 1.002), coef, e0, e1, powers)


def fit_tanh(T, deg):
    # tanh(x) = x + x^3 * P(x^2) for |x| <= T
    x = chebgrid(0, T)
    z = x * x
    tgt = mpvec(lambda v: (mp.tanh(v) - v) / v**3, x)
    w = x**3 / np.tanh(x)
    powers = list(range(0, deg + 1))
    coef, e0, e1 = fit_rounded(z, tgt, w, powers)
    report("tanh: P(z), z = x^2, |x| <= %g" % T, coef, e0, e1, powers)


def fit_erf_small(T, deg):
    # erf(x) = x + x * P(x^2) for |x| <= T: P(0) = 2/sqrt(pi) - 1 is small, so
    # rounding it to float costs far less than rounding 2/sqrt(pi) would
    x = chebgrid(0, T)
    z = x * x
    tgt = mpvec(lambda v: mp.erf(v) / v - 1, x)
    w = x / np.array([float(mp.erf(mp.mpf(float(v)))) for v in x])
    powers = list(range(0, deg + 1))
    coef, e0, e1 = fit_rounded(z, tgt, w, powers)
    report("erf small: P(z), erf(x) = x + x*P(x^2), |x| <= %g" % T, coef, e0, e1, powers)


def fit_erfc(T, U, C, deg):
    # erfc(a) = exp(-a^2) * Q(a - C) for T <= a <= U; the error of
    # erf = 1 - erfc is absolute, so the weight is exp(-a^2) / erf(a)
    a = chebgrid(T, U)
    tgt = mpvec(lambda v: mp.erfc(v) * mp.exp(v * v), a)
    w = np.exp(-a * a) / np.array([float(mp.erf(mp.mpf(float(v)))) for v in a])
    powers = list(range(0, deg + 1))
    coef, e0, e1 = fit_rounded(a - C, tgt, w, powers)
    report("erfc: Q(t), erfc(a) = exp(-a^2)*Q(a - %g), %g <= a <= %g" % (C, T, U), coef, e0, e1, powers)


def main():
    which = sys.argv[1:] or ["exp", "log", "tanh", "erf"]
    if "exp" in which:
        fit_exp(6)
    if "log" in which:
        fit_log(3)
    if "tanh" in which:
        fit_tanh(0.625, 5)
    if "erf" in which:
        fit_erf_small(1.0, 6)
        fit_erfc(1.0, 4.0, 2.5, 8)


if __name__ == "__main__":
    main()
