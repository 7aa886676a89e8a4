"""P-values of the drift tests, from ``scipy.stats`` (the ``mlgate[gates]`` extra).

drift.py computes every statistic itself in numpy (one sort per feature): that is the measured
speed-up. The reference distributions behind the p-values are scipy's public API, never a copy
of it. scipy is imported on first use only, so the admission webhook (which computes no drift)
neither needs nor loads it.
"""

from __future__ import annotations

import math
import warnings
from types import ModuleType
from typing import NamedTuple

import numpy as np

from mlgate.errors import MlgateError

MAX_EXACT_KS_N = 10_000  # ks_2samp(method="auto") is exact up to this sample size
# Above this effective size scipy's finite-n Kolmogorov distribution (kstwo) costs up to a
# second per call (measured: 0.57 s at n = 200,000), so the limiting distribution is used; it
# differs from kstwo by O(1/sqrt(n)), measured at most 1.2e-3 absolute at n = 10,000.
MAX_FINITE_KS_N = 10_000


class GatesExtraMissing(MlgateError):
    """Promotion-gate p-values need scipy, which the ``mlgate[gates]`` extra installs."""


class KSResult(NamedTuple):
    statistic: float
    pvalue: float
    method: str  # "exact" | "asymp" (finite-n kstwo) | "limit" (kstwobign)


def _stats() -> ModuleType:
    try:
        import scipy.stats as stats  # type: ignore[import-untyped]
    except ImportError:
        raise GatesExtraMissing(
            "drift p-values need scipy: install the gates extra (pip install 'mlgate[gates]')"
        ) from None
    module: ModuleType = stats
    return module


def _probability(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def ks_pvalue(statistic: float, ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> KSResult:
    """Two-sided p-value of the two-sample KS statistic, ``ks_2samp(method="auto")`` semantics.

    Small samples take scipy's exact distribution (cheap at this size, so the samples are handed
    over whole); larger ones the one-sample Kolmogorov distribution at the effective size
    ``n = n1 * n2 / (n1 + n2)``, which needs only the statistic computed by the caller: the
    finite-n ``kstwo`` as ks_2samp does up to ``MAX_FINITE_KS_N``, its limit beyond (Smirnov's
    ``kstwobign`` at ``sqrt(n) * d``), where kstwo gets slow and the two agree to ~1e-3.
    """
    stats = _stats()
    n1, n2 = ref_sorted.shape[0], cur_sorted.shape[0]
    if max(n1, n2) <= MAX_EXACT_KS_N:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = stats.ks_2samp(ref_sorted, cur_sorted, method="auto")
        # scipy says so when the exact computation fails and it falls back to asymp
        fell_back = any("asymp" in str(w.message) for w in caught)
        return KSResult(
            float(result.statistic),
            _probability(float(result.pvalue)),
            "asymp" if fell_back else "exact",
        )
    effective_n = n1 * n2 / (n1 + n2)
    if effective_n <= MAX_FINITE_KS_N:
        pvalue = float(stats.kstwo.sf(statistic, round(effective_n)))
        return KSResult(statistic, _probability(pvalue), "asymp")
    pvalue = float(stats.kstwobign.sf(statistic * math.sqrt(effective_n)))
    return KSResult(statistic, _probability(pvalue), "limit")


def chi2_pvalue(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square(dof)."""
    if dof <= 0 or statistic <= 0 or math.isnan(statistic):
        return 1.0
    return _probability(float(_stats().chi2.sf(statistic, dof)))
