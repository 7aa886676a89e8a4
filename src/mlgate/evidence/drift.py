"""Data drift between a reference sample and a current sample, feature by feature.

Numpy only: scipy is the tests' reference implementation and is never imported here.

Per numeric feature
  - **PSI** over ``bins`` bins whose edges are the reference quantiles (numpy's default
    "linear" method); bin i is [edge i-1, edge i). The outer bins are open, so current values
    outside the reference range still land in a bin; edges repeated by ties are merged (fewer
    bins). When ties make the top edge the reference maximum, one more bin starts just above
    it, so that new larger values are not lumped with the maximum (a constant reference column
    thus detects any change). A bin proportion of zero is replaced by ``PSI_EPSILON`` before
    the logarithm: ``PSI = sum((c - r) * ln(c / r))``.
  - **Kolmogorov-Smirnov** two-sample statistic and two-sided p-value with
    ``scipy.stats.ks_2samp(method="auto")`` semantics: the exact distribution when both
    samples have at most ``MAX_EXACT_KS_N`` values, else scipy's asymptotic path, the
    one-sample Kolmogorov distribution ``kstwo`` at ``n = round(n1 * n2 / (n1 + n2))``.
  - **Jensen-Shannon distance** (base ``JS_BASE``) between the binned distributions.
Per categorical feature
  - PSI and JS distance over the categories, and the **chi-square** test of the 2 x k
    contingency table, as ``scipy.stats.chi2_contingency`` computes it (Yates' correction
    only when the table is 2 x 2; categories absent from both samples are dropped).

Decision rules (thresholds: :class:`DriftThresholds`, from ``policies/params.yaml``
``defaults.drift``):
  - ``severity`` is "deny" when PSI >= ``psi_deny``, "warn" when PSI >= ``psi_warn``, else
    "none". PSI is the effect size; the p-values only say whether a difference is real.
  - ``drifted`` is true when the test rejects "same distribution" (KS p < ``ks_pvalue``;
    chi-square p < ``chi2_pvalue``) or the severity is "deny" (a small sample can hide a large
    shift from the test, never from PSI).
  - ``dataset_drift`` is true when ``drift_share`` (drifted / compared features) >=
    ``dataset_drift_share``.

Missing values (NaN, or code -1 for categoricals) are left out of every statistic and counted
per feature. A feature with no values left on either side, or with infinite values, is an
input error.

Memory and speed: features are processed independently (each needs O(rows) scratch), on a
small thread pool because numpy releases the GIL in sort and searchsorted. Each feature costs
two sorts and two searchsorted passes; no rows x features copy is ever made.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mlgate.errors import InputError, PolicyError
from mlgate.evidence.datafiles import Categorical, Column

PSI_EPSILON = 1e-4
JS_BASE = 2.0
MAX_EXACT_KS_N = 10_000  # scipy's MAX_AUTO_N for method="auto"
MAX_WORKERS = 4


# --------------------------------------------------------------------------------------------
# thresholds


@dataclass(frozen=True)
class DriftThresholds:
    """Decision thresholds. The defaults equal ``policies/params.yaml`` ``defaults.drift``."""

    psi_warn: float = 0.1
    psi_deny: float = 0.25
    ks_pvalue: float = 0.05
    chi2_pvalue: float = 0.05
    dataset_drift_share: float = 0.5
    bins: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"drift threshold {f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"drift threshold {f.name} must be finite and >= 0")
        if not isinstance(self.bins, int) or self.bins < 2:
            raise ValueError(f"drift threshold bins must be an integer >= 2, got {self.bins!r}")
        if self.psi_warn > self.psi_deny:
            raise ValueError("drift threshold psi_warn must not exceed psi_deny")
        for name in ("ks_pvalue", "chi2_pvalue", "dataset_drift_share"):
            if getattr(self, name) > 1:
                raise ValueError(f"drift threshold {name} must be within [0, 1]")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "") -> DriftThresholds:
        """Defaults overridden by ``values``; unknown keys and bad values are PolicyErrors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PolicyError(
                f"unknown drift parameter {unknown[0]!r} (known: {', '.join(sorted(known))})",
                location=where or None,
            )
        try:
            return cls(**dict(values))
        except ValueError as err:
            raise PolicyError(str(err), location=where or None) from None


def load_thresholds(params_path: str | os.PathLike[str] | None) -> DriftThresholds:
    """Thresholds from ``defaults.drift`` of a params.yaml; the defaults when there is no file.
    The file is read by the policy set's one params.yaml reader, so a file the engine would
    refuse (an unknown key, a wrong type) is refused here too, with its ``file:line``."""
    if params_path is None or not Path(params_path).is_file():
        return DriftThresholds()
    from mlgate.policyset.params import read_params_file

    document, lines = read_params_file(Path(params_path))
    drift = document["defaults"].get("drift", {})
    return DriftThresholds.from_mapping(drift, where=lines.where("/defaults/drift"))


# --------------------------------------------------------------------------------------------
# chi-square survival function: regularized upper incomplete gamma Q(k/2, x/2)

_GAMMA_EPS = 1e-16
_GAMMA_TINY = 1e-300
_GAMMA_MAXITER = 100_000


def _log_gamma_prefactor(a: float, x: float) -> float:
    return a * math.log(x) - x - math.lgamma(a)


def _gammainc_series(a: float, x: float) -> float:
    """P(a, x) by its power series; converges quickly for x < a + 1."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_GAMMA_MAXITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _GAMMA_EPS:
            break
    return total * math.exp(_log_gamma_prefactor(a, x))


def _gammaincc_cf(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); converges for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _GAMMA_TINY
    d = 1.0 / b
    h = d
    for i in range(1, _GAMMA_MAXITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _GAMMA_TINY:
            d = _GAMMA_TINY
        c = b + an / c
        if abs(c) < _GAMMA_TINY:
            c = _GAMMA_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _GAMMA_EPS:
            break
    return h * math.exp(_log_gamma_prefactor(a, x))


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x) for a > 0, x >= 0."""
    if a <= 0 or x < 0 or math.isnan(a) or math.isnan(x):
        return math.nan
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return min(1.0, max(0.0, 1.0 - _gammainc_series(a, x)))
    return min(1.0, max(0.0, _gammaincc_cf(a, x)))


def chi2_sf(statistic: float, dof: float) -> float:
    """P(X >= statistic) for X ~ chi-square(dof); equals ``scipy.stats.chi2.sf``."""
    if statistic <= 0:
        return 1.0
    return gammaincc(dof / 2.0, statistic / 2.0)


# --------------------------------------------------------------------------------------------
# Kolmogorov-Smirnov distributions. A port of scipy.stats._ksstats (Simard & L'Ecuyer's choice
# of algorithm for kstwo) and of the exact two-sample paths of scipy.stats.ks_2samp, so that
# p-values agree with scipy. scipy.special.smirnov (C, double-double arithmetic) is replaced by
# the same Birnbaum-Tingey sum with each term computed as a binomial probability by Loader's
# saddle-point method, which keeps every term accurate to ~1e-14 without double-doubles.

_E128 = 128
_EP128 = np.ldexp(np.longdouble(1), _E128)
_EM128 = np.ldexp(np.longdouble(1), -_E128)
_SQRT2PI = math.sqrt(2 * math.pi)
_LOG_2PI = math.log(2 * math.pi)
_MIN_LOG = -708
_SQRT3 = math.sqrt(3)
_PI_SQUARED = math.pi**2
_PI_FOUR = math.pi**4
_PI_SIX = math.pi**6
_CEPHES_MINLOG = -7.451332191019412076235e2
_SMIRNOV_MAX_COMPUTE_N = 1_000_000
_DMTW_LOOP_MAX_N = 1_000
_STIRLING_COEFFS = [
    -2.955065359477124183e-2,
    6.4102564102564102564e-3,
    -1.9175269175269175269e-3,
    8.4175084175084175084e-4,
    -5.952380952380952381e-4,
    7.9365079365079365079e-4,
    -2.7777777777777777778e-3,
    8.3333333333333333333e-2,
]


def _clip_prob(p: float) -> float:
    return float(np.clip(p, 0.0, 1.0))


def _log_nfactorial_div_n_pow_n(n: int) -> float:
    rn = 1.0 / n
    return float(np.log(n) / 2 - n + _LOG_2PI / 2 + rn * np.polyval(_STIRLING_COEFFS, rn / n))


def _log_nfactorial_div_n_pow_n_ld(n: int) -> np.longdouble:
    """log(n! / n^n) by Stirling's series, in long double."""
    ln = np.longdouble(n)
    rn = 1 / ln
    series = np.longdouble(0)
    for c in _STIRLING_COEFFS:
        series = series * (rn / ln) + np.longdouble(c)
    half_log_2pi = np.log(2 * np.longdouble(np.pi)) / 2
    return np.log(ln) / 2 - ln + half_log_2pi + rn * series


def _stirlerr_exact(k: int) -> float:
    if k == 0:
        return 0.0
    return math.lgamma(k + 1) - (k + 0.5) * math.log(k) + k - _LOG_2PI / 2


_STIRLERR_SMALL = np.array([_stirlerr_exact(k) for k in range(16)])


def _stirlerr(k: np.ndarray) -> np.ndarray:
    """log(k!) - log(sqrt(2 pi k) (k/e)^k) for integers k >= 0 (Loader): a table up to 15,
    then the asymptotic series, whose truncation error there is below 1e-17."""
    k = np.asarray(k, dtype=np.float64)
    out = np.empty_like(k)
    small = k <= 15
    out[small] = _STIRLERR_SMALL[k[small].astype(np.intp)]
    big = ~small
    kb = k[big]
    kk = kb * kb
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    out[big] = (s0 - (s1 - (s2 - (s3 - s4 / kk) / kk) / kk) / kk) / kb
    return out


def _bd0(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """x log(x / mean) + mean - x without cancellation (Loader's deviance term)."""
    d = x - mean
    total = x + mean
    near = np.abs(d) < 0.1 * total
    out = np.empty_like(x)
    far = ~near
    with np.errstate(divide="ignore", invalid="ignore"):
        out[far] = x[far] * np.log(x[far] / mean[far]) + mean[far] - x[far]
    if near.any():
        v = d[near] / total[near]
        s = d[near] * v
        ej = 2 * x[near] * v
        v2 = v * v
        # |v| < 0.1, so term j is below v^(2j) < 100^-j of the first: enough terms for the
        # largest |v| to reach 1e-17 relative (at most 9), decided once for the whole vector.
        largest = float(np.max(v2))
        steps = 1 if largest == 0 else max(1, math.ceil(-17 * math.log(10) / math.log(largest)))
        for j in range(1, min(steps, 12) + 1):
            ej *= v2
            s += ej / (2 * j + 1)
        out[near] = s
    return out


def _smirnov_sf(n: int, x: float) -> float:
    """One-sided KS survival function P(D+_n >= x); scipy.special.smirnov(n, x)."""
    if not (n > 0 and 0.0 <= x <= 1.0):
        return math.nan
    if n == 1:
        return 1.0 - x
    if x == 0.0:
        return 1.0
    if x == 1.0:
        return 0.0
    nx = Fraction(x) * n  # exact, like cephes' double-double modNX
    nxfl = math.floor(nx)
    alpha = float(nx - nxfl)
    if alpha == 1.0:
        nxfl, alpha = nxfl + 1, 0.0
    if nxfl == 0 or (nxfl == 1 and alpha == 0):
        cdf = x * math.exp((n - 1) * math.log1p(x))
        return _clip_prob(1.0 - cdf)
    if -2 * n * x * x < _CEPHES_MINLOG:
        return 0.0
    if nxfl >= n - 1:
        return _clip_prob(math.exp(n * math.log1p(-x)))
    if n > _SMIRNOV_MAX_COMPUTE_N:
        logp = -((6.0 * n * x + 1) ** 2) / 18.0 / n
        if logp < -math.log(2):
            return _clip_prob(math.exp(logp))
        return _clip_prob(1.0 - (-math.expm1(logp)))
    # Birnbaum-Tingey: P = x * sum_{v=0}^{N-1} C(n,v) (x+v/n)^(v-1) (1-x-v/n)^(n-v),
    # N = n - floor(n x). Term v is Binomial(n, p_v).pmf(v) / p_v with p_v = x + v/n.
    v = np.arange(1, n - nxfl, dtype=np.float64)
    mean_hits = (nxfl + v) + alpha  # n * p_v, exactly as far as floats allow
    mean_miss = (n - nxfl - v) - alpha  # n * (1 - p_v)
    lc = (
        _stirlerr(np.array([n], dtype=np.float64))[0]
        - _stirlerr(v)
        - _stirlerr(n - v)
        - _bd0(v, mean_hits)
        - _bd0(n - v, mean_miss)
    )
    lf = _LOG_2PI + np.log(v) + np.log1p(-v / n)
    log_terms = lc - 0.5 * lf - np.log(mean_hits / n)
    first = n * math.log1p(-x) - math.log(x)  # v = 0: (1 - x)^n / x
    # All terms are positive: numpy's pairwise sum is accurate to ~log2(n) ulps.
    total = math.exp(first) + float(np.sum(np.exp(log_terms)))
    return _clip_prob(x * total)


def _kolmogn_dmtw_cdf(n: int, d: float) -> float:
    """Durbin's matrix algorithm as organised by Marsaglia, Tsang & Wang: P(D_n <= d)."""
    if d >= 1.0:
        return 1.0
    nd = n * d
    if nd <= 0.5:
        return 0.0
    k = int(np.ceil(nd))
    h = k - nd
    m = 2 * k - 1
    big_h = np.zeros([m, m])
    intm = np.arange(1, m + 1)
    v = 1.0 - h**intm
    w = np.empty(m)
    fac = 1.0
    for j in intm:
        w[j - 1] = fac
        fac /= j
        v[j - 1] *= fac
    tt = max(2 * h - 1.0, 0) ** m - 2 * h**m
    v[-1] = (1.0 + tt) * fac
    for i in range(1, m):
        big_h[i - 1 :, i] = w[: m - i + 1]
    big_h[:, 0] = v
    big_h[-1, :] = np.flip(v, axis=0)
    hpwr = np.eye(np.shape(big_h)[0])
    nn = n
    expnt = 0
    hexpnt = 0
    while nn > 0:
        if nn % 2:
            hpwr = np.matmul(hpwr, big_h)
            expnt += hexpnt
        big_h = np.matmul(big_h, big_h)
        hexpnt *= 2
        if np.abs(big_h[k - 1, k - 1]) > _EP128:
            big_h /= _EP128
            hexpnt += _E128
        nn = nn // 2
    p = hpwr[k - 1, k - 1]
    if n > _DMTW_LOOP_MAX_N:
        # p * n! / n^n in logarithms (extended precision where the platform has it) instead
        # of n scalar steps; the relative difference from scipy's loop is below 1e-12.
        if p <= 0:
            return 0.0
        log_p = (
            np.log(np.longdouble(p))
            + expnt * np.log(np.longdouble(2))
            + _log_nfactorial_div_n_pow_n_ld(n)
        )
        return _clip_prob(float(np.exp(log_p)))
    for i in range(1, n + 1):
        p = i * p / n
        if np.abs(p) < _EM128:
            p *= _EP128
            expnt -= _E128
    if expnt != 0:
        p = np.ldexp(p, expnt)
    return _clip_prob(p)


def _pomeranz_j1j2(i: int, n: int, ll: int, ceilf: int, roundf: int) -> tuple[int, int]:
    if i == 0:
        j1, j2 = -ll - ceilf - 1, ll + ceilf - 1
    else:
        ip1div2, ip1mod2 = divmod(i + 1, 2)
        if ip1mod2 == 0:
            if ip1div2 == n + 1:
                j1, j2 = n - ll - ceilf - 1, n + ll + ceilf - 1
            else:
                j1, j2 = ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1
        else:
            j1, j2 = ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1
    return max(j1 + 2, 0), min(j2, n)


def _kolmogn_pomeranz_cdf(n: int, x: float) -> float:
    """Pomeranz's recursion: P(D_n <= x)."""
    t = n * x
    ll = int(np.floor(t))
    f = 1.0 * (t - ll)
    g = min(f, 1.0 - f)
    ceilf = 1 if f > 0 else 0
    roundf = 1 if f > 0.5 else 0
    npwrs = 2 * (ll + 1)
    gpower = np.empty(npwrs)
    twogpower = np.empty(npwrs)
    onem2gpower = np.empty(npwrs)
    gpower[0] = 1.0
    twogpower[0] = 1.0
    onem2gpower[0] = 1.0
    expnt = 0
    g_over_n, two_g_over_n, one_minus_two_g_over_n = g / n, 2 * g / n, (1 - 2 * g) / n
    for m in range(1, npwrs):
        gpower[m] = gpower[m - 1] * g_over_n / m
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m
    v0 = np.zeros([npwrs])
    v1 = np.zeros([npwrs])
    v1[0] = 1
    v0s, v1s = 0, 0
    j1, j2 = _pomeranz_j1j2(0, n, ll, ceilf, roundf)
    for i in range(1, 2 * n + 2):
        k1 = j1
        v0, v1 = v1, v0
        v0s, v1s = v1s, v0s
        v1.fill(0.0)
        j1, j2 = _pomeranz_j1j2(i, n, ll, ceilf, roundf)
        pwrs = gpower if i in (1, 2 * n + 1) else (twogpower if i % 2 else onem2gpower)
        ln2 = j2 - k1 + 1
        if ln2 > 0:
            conv = np.convolve(v0[k1 - v0s : k1 - v0s + ln2], pwrs[:ln2])
            conv_start = j1 - k1
            conv_len = j2 - j1 + 1
            v1[:conv_len] = conv[conv_start : conv_start + conv_len]
            if 0 < np.max(v1) < _EM128:
                v1 *= _EP128
                expnt -= _E128
            v1s = v0s + j1 - k1
    ans = v1[n - v1s]
    for m in range(1, n + 1):
        if np.abs(ans) > _EP128:
            ans *= _EM128
            expnt += _E128
        ans *= m
    if expnt != 0:
        ans = np.ldexp(ans, expnt)
    return _clip_prob(ans)


def _kolmogn_pelzgood_cdf(n: int, x: float) -> float:
    """Pelz-Good approximation to P(D_n <= x), for larger n."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < _MIN_LOG:
        return 0.0
    q = np.exp(qlog)
    k1a = -zsquared
    k1b = _PI_SQUARED / 4
    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI_SQUARED / 4
    k2c = _PI_FOUR * (1 - 2 * zsquared) / 16
    k3d = _PI_SIX * (5 - 30 * zsquared) / 64
    k3c = _PI_FOUR * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI_SQUARED * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8
    k0to3 = np.zeros(4)
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = np.power(q, 8 * k)
        coeffs = np.array(
            [
                1.0,
                k1a + k1b * msquared,
                k2a + k2b * msquared + k2c * mfour,
                k3a + k3b * msquared + k3c * mfour + k3d * msix,
            ]
        )
        k0to3 *= qpower
        k0to3 += coeffs
    k0to3 *= q
    k0to3 *= _SQRT2PI
    k0to3 /= np.array([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    q = np.exp(-_PI_SQUARED / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks**2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q**ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI_SQUARED * _SQRT2PI / (-36 * zthree)
    k0to3[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI_SQUARED * _SQRT2PI / (216 * zsix)
    k0to3[3] += k3extra
    powers_of_n = np.power(n * 1.0, np.arange(len(k0to3)) / 2.0)
    k0to3 /= powers_of_n
    return float(sum(k0to3))


def kolmogorov_sf(d: float, n: int) -> float:
    """P(D_n >= d) for the two-sided one-sample KS statistic; ``scipy.stats.kstwo.sf``."""
    if not math.isfinite(d) or n < 1:
        return math.nan
    x = d
    if x >= 1.0:
        return 0.0
    if x <= 0.0:
        return 1.0
    t = n * x
    if t <= 1.0:  # Ruben-Gambino
        if t <= 0.5:
            return 1.0
        if n <= 140:
            prob = float(np.prod(np.arange(1, n + 1) * (1.0 / n) * (2 * t - 1)))
        else:
            prob = float(np.exp(_log_nfactorial_div_n_pow_n(n) + n * np.log(2 * t - 1)))
        return _clip_prob(1.0 - prob)
    if t >= n - 1:  # Ruben-Gambino
        return _clip_prob(2 * (1.0 - x) ** n)
    if x >= 0.5:
        return _clip_prob(2 * _smirnov_sf(n, x))
    nxsquared = t * x
    if n <= 140:
        if nxsquared <= 0.754693:
            return _clip_prob(1.0 - _kolmogn_dmtw_cdf(n, x))
        if nxsquared <= 4:
            return _clip_prob(1.0 - _kolmogn_pomeranz_cdf(n, x))
        return _clip_prob(2 * _smirnov_sf(n, x))
    if nxsquared >= 370.0:
        return 0.0
    if nxsquared >= 2.2:
        return _clip_prob(2 * _smirnov_sf(n, x))
    if n <= 100_000 and n * x**1.5 <= 1.4:
        cdf = _kolmogn_dmtw_cdf(n, x)
    else:
        cdf = _kolmogn_pelzgood_cdf(n, x)
    return _clip_prob(1.0 - cdf)


def _prob_outside_square(n: int, h: int) -> float:
    """Exact P(D_{n,n} >= h/n) for two samples of equal size n."""
    p = 0.0
    k = int(np.floor(n / h))
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1)
        p = p1 * (1.0 - p)
        k -= 1
    return 2 * p


def _prob_outside_band(m: int, n: int, g: int, h: int) -> float:
    """Exact P(D_{m,n} >= h / lcm(m, n)) for unequal sizes.

    Hodges' lattice-path recursion in Viehmann's "1 - p" form, as scipy computes it column by
    column. Here it runs along anti-diagonals x + y = s instead, so that each step is one
    vector operation; every cell gets the same floating-point expression as in scipy,
    r(x, y) = (r(x-1, y) * x + r(x, y-1) * y) / (x + y), with r = 1 outside the band.
    """
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    total = mg + ng
    # r[x + 1] holds the previous anti-diagonal's cell with abscissa x; r[0] stands for x = -1.
    # Cells outside the band read as 1: every path through them has left the band.
    r = np.ones(m + 3)
    r[1] = 0.0  # the origin
    top = m + n
    xs = np.arange(m + 1, dtype=np.float64)
    ys = np.arange(top, -1, -1, dtype=np.float64)  # ys[top - s + x] == s - x
    left = np.empty(m + 1)  # scratch, reused: this loop runs m + n times
    down = np.empty(m + 1)
    prev_lo = prev_hi = 0
    for s in range(1, top + 1):
        # in band: |ng x - mg y| < h with y = s - x  <=>  mg s - h < total x < mg s + h
        lo = max((mg * s - h) // total + 1, s - n, 0)
        hi = min(-(-(mg * s + h) // total) - 1, s, m)
        if lo > hi:
            return 1.0
        k = hi - lo + 1
        a, b = left[:k], down[:k]
        np.multiply(r[lo : hi + 1], xs[lo : hi + 1], out=a)  # r(x-1, y) * x
        np.multiply(r[lo + 1 : hi + 2], ys[top - s + lo : top - s + hi + 1], out=b)  # r(x, y-1) * y
        np.add(a, b, out=a)
        if prev_lo < lo:
            r[prev_lo + 1 : lo + 1] = 1.0
        if prev_hi > hi:
            r[hi + 2 : prev_hi + 2] = 1.0
        np.divide(a, s, out=r[lo + 1 : hi + 2])
        prev_lo, prev_hi = lo, hi
    return float(r[m + 1])


class KSResult(NamedTuple):
    statistic: float
    pvalue: float
    method: str  # "exact" | "asymp"


def _ks_pvalue(d: float, n1: int, n2: int) -> KSResult:
    """Two-sided p-value for statistic ``d`` with ``ks_2samp(method="auto")`` semantics."""
    g = math.gcd(n1, n2)
    if max(n1, n2) <= MAX_EXACT_KS_N:
        lcm = (n1 // g) * n2
        h = int(np.round(d * lcm))
        d_exact = h * 1.0 / lcm
        if h == 0:
            return KSResult(d_exact, 1.0, "exact")
        with np.errstate(invalid="raise", over="raise"):
            try:
                equal = n1 == n2
                prob = _prob_outside_square(n1, h) if equal else _prob_outside_band(n1, n2, g, h)
            except FloatingPointError:
                prob = math.nan
        if 0 <= prob <= 1:
            return KSResult(d_exact, float(prob), "exact")
        # scipy falls back to the asymptotic distribution when the exact one fails
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    prob = kolmogorov_sf(d, int(np.round(en)))
    return KSResult(float(d), _clip_prob(prob), "asymp")


def _ks_sorted(ref: np.ndarray, cur: np.ndarray) -> KSResult:
    """KS on two sorted, NaN-free, non-empty samples.

    sup(F1 - F2) is reached at a reference point and sup(F2 - F1) at a current point, and at
    the last of a run of ties the rank is its index + 1, so two searchsorted passes suffice;
    every difference is the same float expression scipy evaluates.
    """
    n1, n2 = ref.shape[0], cur.shape[0]
    below_ref = np.searchsorted(cur, ref, side="right")  # current values <= each ref value
    diff = np.arange(1, n1 + 1) / n1 - below_ref / n2
    max_s = float(diff.max())
    del diff, below_ref
    below_cur = np.searchsorted(ref, cur, side="right")
    diff = below_cur / n1 - np.arange(1, n2 + 1) / n2
    min_s = float(np.clip(-diff.min(), 0, 1))
    d = min_s if min_s > max_s else max_s
    return _ks_pvalue(d, n1, n2)


def ks_2samp(reference: np.ndarray, current: np.ndarray) -> KSResult:
    """Two-sample, two-sided KS test of NaN-free samples; ``scipy.stats.ks_2samp`` values."""
    a = np.sort(np.asarray(reference, dtype=np.float64))
    b = np.sort(np.asarray(current, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_2samp needs two non-empty samples")
    if np.isnan(a[-1]) or np.isnan(b[-1]):  # NaN sorts last
        raise ValueError("ks_2samp: samples contain NaN")
    return _ks_sorted(a, b)


# --------------------------------------------------------------------------------------------
# PSI, JS distance, chi-square on counts


def quantile_edges(sorted_values: np.ndarray, bins: int) -> np.ndarray:
    """Interior PSI bin edges: the reference quantiles at 1/bins .. (bins-1)/bins, deduplicated.

    Equals ``np.quantile(values, q)`` (linear method) but reads the already-sorted sample
    instead of partitioning it again.
    """
    n = sorted_values.shape[0]
    q = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    virtual = (n - 1) * q
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    gamma = virtual - lo
    a = sorted_values[lo]
    b = sorted_values[hi]
    diff = b - a
    # numpy's _lerp: interpolate from the nearer end for accuracy
    edges = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    return np.unique(edges)


def binned_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (-inf, e0), [e0, e1), ..., [e_last, inf) of a sorted sample."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate(([0], cuts, [sorted_values.shape[0]])))


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    r = r / r.sum()
    c = c / c.sum()
    r = np.where(r == 0, PSI_EPSILON, r)
    c = np.where(c == 0, PSI_EPSILON, c)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(
    reference_counts: np.ndarray, current_counts: np.ndarray, base: float = JS_BASE
) -> float:
    """Jensen-Shannon distance; ``scipy.spatial.distance.jensenshannon(p, q, base)``."""
    p = np.asarray(reference_counts, dtype=np.float64)
    q = np.asarray(current_counts, dtype=np.float64)
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    js = (np.sum(left) + np.sum(right)) / 2.0
    if base is not None:
        js /= np.log(base)
    return float(np.sqrt(max(js, 0.0)))


class Chi2Result(NamedTuple):
    statistic: float
    pvalue: float
    dof: int


def chi2_2xk(reference_counts: np.ndarray, current_counts: np.ndarray) -> Chi2Result:
    """Pearson chi-square test of homogeneity of the 2 x k table, as chi2_contingency does.

    Columns empty in both rows are dropped (scipy rejects zero expected frequencies). Yates'
    continuity correction applies only when one degree of freedom remains (a 2 x 2 table).
    """
    observed = np.vstack(
        [np.asarray(reference_counts, dtype=np.float64), np.asarray(current_counts, np.float64)]
    )
    observed = observed[:, observed.sum(axis=0) > 0]
    k = observed.shape[1]
    dof = k - 1
    if dof <= 0:
        return Chi2Result(0.0, 1.0, 0)
    total = observed.sum()
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
    if dof == 1:
        diff = expected - observed
        direction = np.sign(diff)
        magnitude = np.minimum(0.5, np.abs(diff))
        observed = observed + magnitude * direction
    terms = (observed - expected) ** 2 / expected
    statistic = float(terms.sum())
    return Chi2Result(statistic, chi2_sf(statistic, dof), dof)


# --------------------------------------------------------------------------------------------
# per-feature evaluation


def _severity(value: float, thresholds: DriftThresholds) -> str:
    if value >= thresholds.psi_deny:
        return "deny"
    if value >= thresholds.psi_warn:
        return "warn"
    return "none"


def _numeric_feature(
    name: str,
    reference: np.ndarray,
    current: np.ndarray,
    thresholds: DriftThresholds,
    labels: tuple[str, str],
) -> dict[str, Any]:
    sides = []
    for values, label in zip((reference, current), labels, strict=True):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise InputError(f"feature {name!r}: expected one column of values", location=label)
        ordered = np.sort(values)  # NaN sorts last, so the valid values are a prefix
        valid = ordered.shape[0]
        if valid and np.isnan(ordered[-1]):
            valid = int(np.searchsorted(ordered, np.nan, side="left"))
        if valid == 0:
            raise InputError(f"feature {name!r}: no non-missing values", location=label)
        ordered = ordered[:valid]
        if np.isinf(ordered[0]) or np.isinf(ordered[-1]):
            raise InputError(f"feature {name!r}: infinite values are not allowed", location=label)
        sides.append((ordered, values.shape[0] - valid))
    (ref, ref_missing), (cur, cur_missing) = sides
    edges = quantile_edges(ref, thresholds.bins)
    if edges[-1] == ref[-1]:
        # The top edge is the reference maximum (ties): give values above it a bin of their own
        # instead of lumping them with the maximum. Below the lowest edge that already holds.
        edges = np.append(edges, np.nextafter(ref[-1], np.inf))
    ref_counts = binned_counts(ref, edges)
    cur_counts = binned_counts(cur, edges)
    ks = _ks_sorted(ref, cur)
    value = psi(ref_counts, cur_counts)
    severity = _severity(value, thresholds)
    drifted = ks.pvalue < thresholds.ks_pvalue or severity == "deny"
    return {
        "kind": "numeric",
        "psi": value,
        "ks_statistic": ks.statistic,
        "ks_pvalue": ks.pvalue,
        "ks_method": ks.method,
        "js_distance": js_distance(ref_counts, cur_counts),
        "drifted": bool(drifted),
        "severity": severity,
        "bins": int(edges.shape[0] + 1),
        "missing_reference": int(ref_missing),
        "missing_current": int(cur_missing),
    }


def _categorical_feature(
    name: str,
    reference: Categorical,
    current: Categorical,
    thresholds: DriftThresholds,
    labels: tuple[str, str],
) -> dict[str, Any]:
    if reference.categories != current.categories:
        raise ValueError(
            f"feature {name!r}: reference and current categories differ; "
            "use datafiles.align_categories first"
        )
    k = len(reference.categories)
    counts = []
    for column, label in zip((reference, current), labels, strict=True):
        codes = np.asarray(column.codes)
        present = codes[codes >= 0]
        if present.size == 0:
            raise InputError(f"feature {name!r}: no non-missing values", location=label)
        counts.append(np.bincount(present, minlength=k))
    ref_counts, cur_counts = counts
    chi = chi2_2xk(ref_counts, cur_counts)
    value = psi(ref_counts, cur_counts)
    severity = _severity(value, thresholds)
    drifted = chi.pvalue < thresholds.chi2_pvalue or severity == "deny"
    return {
        "kind": "categorical",
        "psi": value,
        "chi2_statistic": chi.statistic,
        "chi2_pvalue": chi.pvalue,
        "chi2_dof": chi.dof,
        "js_distance": js_distance(ref_counts, cur_counts),
        "drifted": bool(drifted),
        "severity": severity,
        "categories": int(np.count_nonzero((ref_counts + cur_counts) > 0)),
        "missing_reference": reference.n_missing,
        "missing_current": current.n_missing,
    }


def compute_drift(
    reference: Mapping[str, Column],
    current: Mapping[str, Column],
    *,
    features: Sequence[str] | None = None,
    thresholds: DriftThresholds | None = None,
    n_reference: int | None = None,
    n_current: int | None = None,
    labels: tuple[str, str] = ("reference", "current"),
    max_workers: int | None = None,
) -> dict[str, Any]:
    """The ``drift`` section of the evidence document.

    ``reference``/``current`` map feature names to numeric arrays or to :class:`Categorical`
    columns sharing one coding (see ``datafiles.align_categories``). ``labels`` name the two
    sides in error messages (the gate passes the file paths).
    """
    thresholds = thresholds or DriftThresholds()
    names = list(features) if features is not None else [n for n in reference if n in current]
    if not names:
        raise InputError("no features to compare for drift")
    for name in names:
        for side, label in ((reference, labels[0]), (current, labels[1])):
            if name not in side:
                raise InputError(f"no feature column {name!r}", location=label)
        if isinstance(reference[name], Categorical) != isinstance(current[name], Categorical):
            raise InputError(
                f"feature {name!r} is categorical on one side and numeric on the other"
            )

    def evaluate(name: str) -> dict[str, Any]:
        ref, cur = reference[name], current[name]
        if isinstance(ref, Categorical) and isinstance(cur, Categorical):
            return _categorical_feature(name, ref, cur, thresholds, labels)
        return _numeric_feature(name, np.asarray(ref), np.asarray(cur), thresholds, labels)

    workers = max_workers or min(MAX_WORKERS, os.cpu_count() or 1, len(names))
    if workers <= 1:
        results = [evaluate(name) for name in names]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(evaluate, names))
    per_feature = dict(zip(names, results, strict=True))
    drifted = [name for name in names if per_feature[name]["drifted"]]
    share = len(drifted) / len(names)
    first = next(iter(reference.values()))
    first_cur = next(iter(current.values()))
    return {
        "thresholds": thresholds.to_dict(),
        "features": per_feature,
        "drifted_features": drifted,
        "drift_share": share,
        "dataset_drift": share >= thresholds.dataset_drift_share,
        "max_psi": max(per_feature[name]["psi"] for name in names),
        "n_reference": int(n_reference if n_reference is not None else len(first)),
        "n_current": int(n_current if n_current is not None else len(first_cur)),
    }
