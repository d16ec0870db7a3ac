"""Fused CPU kernels (numba) of the four costliest metrics, one image at a time, each equal to its torch path:

* VIF (:mod:`pipelines.metrics.vif`) and SSIM (:mod:`pipelines.metrics.ssim`) share the moment maps'
  separable filtering, streamed through a ring of row-filtered rows (:func:`moment_ring`,
  :func:`next_moments`), so the column pass reads rows still in cache; VIF folds the reference's fix-ups and
  the logarithms into it, SSIM its formula;
* MI (:mod:`pipelines.metrics.information`): both joint histograms by direct counting, visiting only the
  non-empty bins;
* Qabf (:mod:`pipelines.metrics.gradient`): Sobel, edge strength, gain and the weighted sums fused around
  numpy's float32 arctan and exp.

Why a second implementation: on one CPU core the torch paths spend most of their time moving full maps
through memory (about 30 eager operations per VIF scale, as many for Qabf).  Fused, the full 12-metric set
went from 16.1 to 7.0 ms per 256x256 pair (benchmarks/metrics.py; figures in docs/evaluation.md).  The
metrics use these kernels for CPU batches (VIF when every scale fits its window; Qabf for integer images);
GPUs keep the batched torch paths.  ``tests/metrics/test_kernels.py`` keeps each kernel equal to its torch
path and to tests/data/fusion_metrics/expected.csv.

VIF formulas and constants: exactly those of :mod:`pipelines.metrics.vif` (Sheikh & Bovik 2006
``vifp_mscale``, sigma_n^2 = 2, eps = 1e-10, windows N = 17, 9, 5, 3 with sigma = N/5, 'valid' filtering,
[::2, ::2] subsampling for s > 1, the reference's fix-ups); logarithms are taken of products of up to 16
factors, flushed earlier if they grow past 1e150, so inputs far outside 0-255 cannot overflow them.

Compilation: ``cache=True`` keeps the machine code next to this file (or in numba's user cache when the
package directory is read-only): 16 s the very first time on the development machine, 0.3 s afterwards.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

SIGMA_NSQ = 2.0
EPS = 1e-10
LOG_GROUP = 16
FLUSH_ABOVE = 1e150

_JIT = dict(cache=True, nogil=True, error_model="numpy")

#: the metrics use these kernels for CPU batches while this is True (tests switch it off to check the torch
#: paths, which GPUs run)
ENABLED = True


def applies(device) -> bool:
    """True when a batch on ``device`` goes through these kernels (CPU, kernels enabled)."""
    return ENABLED and device.type == "cpu"


@njit(**_JIT)
def _subsample(X, g):
    """convolve2d(X, outer(g, g), 'valid')[::2, ::2] (g is symmetric: convolution = correlation)."""
    h, w = X.shape
    n = g.shape[0]
    ho, wo = (h - n) // 2 + 1, (w - n) // 2 + 1
    rows = np.empty((h, wo))
    for i in range(h):
        for j in range(wo):
            rows[i, j] = g[0] * X[i, 2 * j]
        for k in range(1, n):
            gk = g[k]
            for j in range(wo):
                rows[i, j] += gk * X[i, 2 * j + k]
    out = np.zeros((ho, wo))
    for i in range(ho):
        for k in range(n):
            gk = g[k]
            for j in range(wo):
                out[i, j] += gk * rows[2 * i + k, j]
    return out


@njit(**_JIT)
def moment_row(A, B, F, taps, i, P, out):
    """Row pass of image row ``i`` of the eight moment maps [A, B, F, A^2, B^2, F^2, AF, BF]:
    out[c, j] = sum_k taps[k] * map_c[i, j + k] (``P`` is scratch, (8, W)).  Shared by VIF and SSIM."""
    n = taps.shape[0]
    wo = out.shape[1]
    for x in range(A.shape[1]):
        a, b, f = A[i, x], B[i, x], F[i, x]
        P[0, x] = a
        P[1, x] = b
        P[2, x] = f
        P[3, x] = a * a
        P[4, x] = b * b
        P[5, x] = f * f
        P[6, x] = a * f
        P[7, x] = b * f
    for c in range(8):
        for j in range(wo):
            out[c, j] = taps[0] * P[c, j]
        for k in range(1, n):
            tk = taps[k]
            for j in range(wo):
                out[c, j] += tk * P[c, j + k]


@njit(**_JIT)
def moment_ring(A, B, F, taps):
    """A ring buffer (n, 8, W - n + 1) holding the row-filtered image rows 0..n-2 (see :func:`next_moments`)."""
    n = taps.shape[0]
    ring = np.empty((n, 8, A.shape[1] - n + 1), dtype=A.dtype)
    P = np.empty((8, A.shape[1]), dtype=A.dtype)
    for r in range(n - 1):
        moment_row(A, B, F, taps, r, P, ring[r])
    return ring, P


@njit(**_JIT)
def next_moments(A, B, F, taps, ring, P, i, v):
    """v[c, j] = the 2-D filtered moment map c at output pixel (i, j) ('valid'); call for i = 0, 1, ... in
    order: it row-filters image row i + n - 1 into the ring, then sums the ring's n rows with the taps."""
    n = taps.shape[0]
    moment_row(A, B, F, taps, i + n - 1, P, ring[(i + n - 1) % n])
    wo = v.shape[1]
    first = ring[i % n]
    for c in range(8):
        for j in range(wo):
            v[c, j] = taps[0] * first[c, j]
    for k in range(1, n):
        tk = taps[k]
        row = ring[(i + k) % n]
        for c in range(8):
            for j in range(wo):
                v[c, j] += tk * row[c, j]


@njit(**_JIT)
def _scale_terms(A, B, F, g, acc):
    """Add one scale's sum(log(numerator factors)) of (A, F) and (B, F) to acc[0:2] and sum(log(denominator
    factors)) to acc[2:4] (natural logarithms)."""
    h, w = A.shape
    n = g.shape[0]
    ho, wo = h - n + 1, w - n + 1
    ring, P = moment_ring(A, B, F, g)
    v = np.empty((8, wo))
    num0 = num1 = den0 = den1 = 1.0              # running products of up to LOG_GROUP factors
    count = 0
    for i in range(ho):
        next_moments(A, B, F, g, ring, P, i, v)
        for j in range(wo):
            mu_f = v[2, j]
            s2 = max(v[5, j] - mu_f * mu_f, 0.0)                 # sigma_F^2, clipped at 0
            fa, da = _factors(v[0, j], v[3, j], v[6, j], mu_f, s2)
            fb, db = _factors(v[1, j], v[4, j], v[7, j], mu_f, s2)
            num0 *= fa
            num1 *= fb
            den0 *= da
            den1 *= db
            count += 1
            if count == LOG_GROUP or max(num0, num1, den0, den1) > FLUSH_ABOVE:
                acc[0] += math.log(num0)
                acc[1] += math.log(num1)
                acc[2] += math.log(den0)
                acc[3] += math.log(den1)
                num0 = num1 = den0 = den1 = 1.0
                count = 0
    acc[0] += math.log(num0)
    acc[1] += math.log(num1)
    acc[2] += math.log(den0)
    acc[3] += math.log(den1)


@njit(inline="always", **_JIT)
def _factors(mu, sq, cross, mu_f, s2):
    """(numerator factor, denominator factor) of one pixel for a source with local mean mu, E[x^2] = sq and
    E[x F] = cross, against F with mean mu_f and variance s2 (the reference's fix-ups in its order)."""
    s1 = max(sq - mu * mu, 0.0)                  # sigma_A^2 (or B), clipped at 0
    s12 = cross - mu * mu_f
    gain = s12 / (s1 + EPS)
    if gain < 0.0:                               # g < 0 -> 0 (and sv -> sigma_F^2)
        gain = 0.0
    sv = s2 - gain * s12
    if sv < EPS:
        sv = EPS
    num = 1.0
    if s1 >= EPS and s2 >= EPS:                  # the sigma < eps fix-ups zero g
        num = 1.0 + gain * gain * s1 / (sv + SIGMA_NSQ)
    return num, 1.0 + s1 * (1.0 / SIGMA_NSQ)


@njit(**_JIT)
def _vif_image(A, B, F, g1, g2, g3, g4, out):
    """out[0:2] = vifp_mscale(A, F), vifp_mscale(B, F) of one image triplet (NaN ratio -> 1.0)."""
    acc = np.zeros(4)
    _scale_terms(A, B, F, g1, acc)
    for g in (g2, g3, g4):
        A = _subsample(A, g)
        B = _subsample(B, g)
        F = _subsample(F, g)
        _scale_terms(A, B, F, g, acc)
    for src in range(2):
        v = acc[src] / acc[2 + src]                  # the log10 factors cancel
        out[src] = 1.0 if np.isnan(v) else v


def fits(height: int, width: int, windows) -> bool:
    """True when every scale's image is at least as large as its window in both directions (the kernel has
    no path for scipy's swapped-input 'valid' case)."""
    h, w = height, width
    for s, g in enumerate(windows):
        n = len(g)
        if s > 0:
            if h < n or w < n:
                return False
            h, w = (h - n) // 2 + 1, (w - n) // 2 + 1
        if h < n or w < n:
            return False
    return True


def _checked(A, B, F, dtype=np.float64):
    A, B, F = (np.ascontiguousarray(x, dtype=dtype) for x in (A, B, F))
    if not (A.shape == B.shape == F.shape and A.ndim == 3):
        raise ValueError(f"A {A.shape}, B {B.shape} and F {F.shape} must be equal (N, H, W) arrays")
    return A, B, F


def vifp_mscale(A: np.ndarray, B: np.ndarray, F: np.ndarray, windows) -> np.ndarray:
    """(N, 2) float64: vifp_mscale(A_i, F_i), vifp_mscale(B_i, F_i) for float64 arrays (N, H, W)."""
    A, B, F = _checked(A, B, F)
    if not fits(A.shape[1], A.shape[2], windows):
        raise ValueError(f"VIF kernel: {A.shape[1]}x{A.shape[2]} images are smaller than a scale's window")
    g = [np.ascontiguousarray(x, dtype=np.float64) for x in windows]
    out = np.empty((A.shape[0], 2))
    for i in range(A.shape[0]):
        _vif_image(A[i], B[i], F[i], g[0], g[1], g[2], g[3], out[i])
    return out


# ------------------------------------------------------------------------------------------------ SSIM
SSIM_WIN = 7


@njit(**_JIT)
def _ssim_image(A, B, F, c1, c2, out):
    """out[0:2] = mean SSIM(F, A), SSIM(F, B) with skimage 0.19's 7x7 uniform window and sample covariances,
    from the exact window sums (see :mod:`pipelines.metrics.ssim` for the integer form of the formula)."""
    box = np.ones(SSIM_WIN, dtype=A.dtype)
    ring, P = moment_ring(A, B, F, box)
    ho, wo = A.shape[0] - SSIM_WIN + 1, ring.shape[2]
    npx = float(SSIM_WIN * SSIM_WIN)
    v = np.empty((8, wo), dtype=A.dtype)
    total_a = 0.0
    total_b = 0.0
    for i in range(ho):
        next_moments(A, B, F, box, ring, P, i, v)
        row_a = 0.0
        row_b = 0.0
        for j in range(wo):
            sf, sff = v[2, j], v[5, j]
            row_a += _ssim_pixel(v[0, j], v[3, j], v[6, j], sf, sff, npx, c1, c2)
            row_b += _ssim_pixel(v[1, j], v[4, j], v[7, j], sf, sff, npx, c1, c2)
        total_a += row_a
        total_b += row_b
    out[0] = total_a / (ho * wo)
    out[1] = total_b / (ho * wo)


@njit(inline="always", **_JIT)
def _ssim_pixel(sx, sxx, sfx, sf, sff, npx, c1, c2):
    sx, sxx, sfx, sf, sff = np.float64(sx), np.float64(sxx), np.float64(sfx), np.float64(sf), np.float64(sff)
    sfsx = sf * sx
    sq = sx * sx + sf * sf
    num = (sfsx * 2.0 + c1) * ((sfx * (2.0 * npx) - 2.0 * sfsx) + c2)
    den = (((sff + sxx) * npx - sq) + c2) * (sq + c1)
    return num / den


def ssim_pairs(A: np.ndarray, B: np.ndarray, F: np.ndarray, c1: float, c2: float) -> np.ndarray:
    """(N, 2) float64: mean SSIM(F_i, A_i), SSIM(F_i, B_i); ``c1``, ``c2`` scaled as in ssim.py.

    float32 images are filtered in float32 (pass them only when they hold integers in 0..255: every window
    sum, at most 49 * 255^2 < 2^24, is then exact, as in the torch path); the formula is float64."""
    A, B, F = _checked(A, B, F, np.float32 if A.dtype == np.float32 else np.float64)
    if min(A.shape[1:]) < SSIM_WIN:
        raise ValueError(f"SSIM kernel: {A.shape[1]}x{A.shape[2]} images are smaller than the 7x7 window")
    out = np.empty((A.shape[0], 2))
    for i in range(A.shape[0]):
        _ssim_image(A[i], B[i], F[i], float(c1), float(c2), out[i])
    return out


# ------------------------------------------------------------------------------------------------ MI
@njit(**_JIT)
def _mi_image(levels, log_table, joint, out):
    """out[0:2] = MI(F, A), MI(F, B) in nats from (3, P) integer levels [A, B, F] in 0..255 (``joint``:
    (65536,) int64 scratch, left zeroed): sklearn's mutual_info_score on the levels, i.e.
    (sum c ln c - sum c_F ln c_F - sum c_S ln c_S) / P + ln P over the non-empty bins."""
    P = levels.shape[1]
    hist_f = np.zeros(256, dtype=np.int64)
    for p in range(P):
        hist_f[levels[2, p]] += 1
    h_f = 0.0
    for v in range(256):
        h_f += hist_f[v] * log_table[hist_f[v]]
    for src in range(2):
        hist_s = np.zeros(256, dtype=np.int64)
        for p in range(P):
            s = levels[src, p]
            hist_s[s] += 1
            joint[levels[2, p] * 256 + s] += 1
        h_s = 0.0
        for v in range(256):
            h_s += hist_s[v] * log_table[hist_s[v]]
        h_joint = 0.0
        for p in range(P):                           # visit each non-empty bin once, then clear it
            k = levels[2, p] * 256 + levels[src, p]
            c = joint[k]
            if c > 0:
                h_joint += c * log_table[c]
                joint[k] = 0
        out[src] = max((h_joint - h_f - h_s) / P + math.log(P), 0.0)   # sklearn clips round-off below 0


@lru_cache(maxsize=8)
def _log_table(total: int) -> np.ndarray:
    """ln(0..total) with ln(0) := 0 (it only multiplies a zero count); read-only, shared between calls."""
    table = np.log(np.maximum(np.arange(total + 1, dtype=np.float64), 1.0))
    table.flags.writeable = False
    return table


def mutual_information(levels: np.ndarray) -> np.ndarray:
    """(N, 2) float64 MI(F, A), MI(F, B) (nats) of (N, 3, P) int64 levels [A, B, F] in 0..255."""
    levels = np.ascontiguousarray(levels, dtype=np.int64)
    if levels.ndim != 3 or levels.shape[1] != 3:
        raise ValueError(f"levels must be (N, 3, P), got {levels.shape}")
    if levels.size and (levels.min() < 0 or levels.max() > 255):
        raise ValueError("levels must lie in 0..255")
    P = levels.shape[2]
    log_table = _log_table(P)
    joint = np.zeros(65536, dtype=np.int64)
    out = np.empty((levels.shape[0], 2))
    for i in range(levels.shape[0]):
        _mi_image(levels[i], log_table, joint, out[i])
    return out


# ------------------------------------------------------------------------------------------------ Qabf
# Qabf keeps its arctan and exponentials in numpy's float32 ufuncs (vectorised; np.arctan is the very call the
# reference evaluator makes on its float32 arrays, and 8x faster here than torch.atan); the kernels fuse
# everything between them.  float32 throughout, as the torch path for integer images: every other operation
# below is the same IEEE float32 operation in the same order.
_F32 = np.float32
_QG_SLOPE, _QG_SHIFT = _F32(-15.0), _F32(7.5)                    # -15 (G - 0.5)
_QA_SLOPE, _QA_SHIFT = _F32(22.0 / (math.pi / 2)), _F32(22.0 * 0.2)  # 22 (|d alpha| / (pi/2) - 0.2)
_Q_SCALE = _F32(0.9994 * 0.9879)


@njit(**_JIT)
def _qabf_edges(X, g, ratio):
    """3x3 Sobel with zero padding of X (C, H, W) float32 (as :func:`pipelines.metrics.gradient.sobel`):
    g = sqrt(sx^2 + sy^2) and ratio = sy / sx, with +inf where sx == 0 (arctan(+inf) = pi/2 in float32, the
    value the reference uses there).  On integer images every Sobel sum is an exact integer."""
    C, H, W = X.shape
    pad = np.zeros((H + 2, W + 2), dtype=np.float32)
    sv = np.empty(W + 2, dtype=np.float32)
    up = np.empty(W, dtype=np.float32)
    down = np.empty(W, dtype=np.float32)
    two = _F32(2.0)
    for c in range(C):
        pad[1:H + 1, 1:W + 1] = X[c]
        for i in range(H):
            for x in range(W + 2):                        # [1, 2, 1] down the rows
                sv[x] = pad[i, x] + pad[i + 2, x] + two * pad[i + 1, x]
            for x in range(W):                            # [1, 2, 1] along the rows above and below
                up[x] = pad[i, x] + pad[i, x + 2] + two * pad[i, x + 1]
                down[x] = pad[i + 2, x] + pad[i + 2, x + 2] + two * pad[i + 2, x + 1]
            for j in range(W):
                sx = sv[j + 2] - sv[j]
                sy = up[j] - down[j]
                g[c, i, j] = np.sqrt(sx * sx + sy * sy)
                ratio[c, i, j] = sy / sx if sx != 0 else np.inf


@njit(**_JIT)
def _qabf_exponents(g, alpha, z):
    """The exponents of Q_g and Q_a per source: z[s] = -15 (G_sF - 0.5), z[2 + s] = 22 (|a_s - a_F|/(pi/2)
    - 0.2), with G = min/max of the edge strengths and the reference's G = g_F where g_s == g_F."""
    C, H, W = g.shape
    for s in range(2):
        for i in range(H):
            for j in range(W):
                gs, gf = g[s, i, j], g[2, i, j]
                if gs == gf:
                    G = gf
                elif gs < gf:
                    G = gs / gf
                else:
                    G = gf / gs
                z[s, i, j] = G * _QG_SLOPE + _QG_SHIFT
                z[2 + s, i, j] = abs(alpha[s, i, j] - alpha[2, i, j]) * _QA_SLOPE - _QA_SHIFT


@njit(**_JIT)
def _qabf_sum(g, e):
    """Qabf = sum_s sum Q_sF g_s / sum_s sum g_s from e = exp(z) (float32 products, float64 sums)."""
    C, H, W = g.shape
    num = 0.0
    den = 0.0
    one = _F32(1.0)
    for s in range(2):
        for i in range(H):
            for j in range(W):
                q = one / ((e[s, i, j] + one) * (e[2 + s, i, j] + one)) * _Q_SCALE
                num += np.float64(q * g[s, i, j])
                den += np.float64(g[s, i, j])
    return num / den


def qabf(work: np.ndarray) -> np.ndarray:
    """(N,) float64 Qabf of a float32 (N, 3, H, W) [A, B, F] array holding 0..255 integers: the edge and gain
    arithmetic here, arctan and exp by numpy (see the comment above :func:`_qabf_edges`)."""
    x = np.ascontiguousarray(work, dtype=np.float32)
    N, C, H, W = x.shape
    out = np.empty(N)
    g = np.empty((C, H, W), dtype=np.float32)
    ratio = np.empty((C, H, W), dtype=np.float32)
    z = np.empty((4, H, W), dtype=np.float32)
    alpha = np.empty_like(ratio)
    for n in range(N):
        _qabf_edges(x[n], g, ratio)
        np.arctan(ratio, out=alpha)
        _qabf_exponents(g, alpha, z)
        np.exp(z, out=z)
        out[n] = _qabf_sum(g, z)
    return out
