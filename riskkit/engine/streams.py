"""Random streams of the engine: one generator per quantity and block of trials.

Also the Poisson counts by inversion and the per-trial sums of per-event values; see
:mod:`riskkit.engine` for how streams, blocks and chunks make the numbers reproducible.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable

import numpy as np

BLOCK = 1 << 14
"""Trials per block of every random stream [trials].

Each block of each stream has its own generator, so blocks can be simulated in any order and
concurrently. Part of the definition of the random numbers: changing it changes them.
"""

_SMALL_RATE = 12.0  # rates up to this use inversion of the Poisson CDF
_KMAX = 250  # inversion stops here (P(N > 250 | rate 12) < 1e-200)
_TAIL = 1e-17  # ... or where the next term no longer changes the CDF in float64


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)
def _key(label: str) -> int:
    return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")


def _stream(seed: int, label: str, block: int) -> np.random.Generator:
    """The generator of block ``block`` of the stream ``label``.

    A keyed child of ``SeedSequence(seed)`` with spawn key (hash of ``label``, ``block``).
    """
    ss = np.random.SeedSequence(seed, spawn_key=(_key(label), block))
    return np.random.Generator(np.random.PCG64(ss))


def _poisson_counts(
    u: np.ndarray,
    lam: float | np.ndarray,
    large: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> np.ndarray:
    """Poisson counts: inversion of the CDF at ``u`` for small rates, numpy above.

    Inversion keeps one uniform per trial whatever the rate; the rare rates above
    ``_SMALL_RATE`` take ``large(trials, rates)``, numpy's sampler on their own stream
    (consumed in trial order).
    """
    n = u.size
    if np.ndim(lam) == 0 and lam <= _SMALL_RATE:  # one rate for every trial: tabulate the CDF
        F = [math.exp(-lam)]
        p = acc = F[0]
        for k in range(1, _KMAX + 1):  # the same recurrence as below, so the same counts
            p *= lam
            p /= k
            acc += p
            if p < acc * _TAIL:  # F has stopped growing: the far tail ends here
                F.append(math.inf)
                break
            F.append(acc)
        return np.minimum(np.searchsorted(np.array(F), u, side="right"), len(F) - 1)
    lam = np.broadcast_to(np.asarray(lam, dtype=float), (n,))
    counts = np.zeros(n, dtype=np.int64)
    big = lam > _SMALL_RATE
    if big.any():
        ib = np.flatnonzero(big)
        counts[ib] = large(ib, lam[ib])
        idx = np.flatnonzero(~big)
        u, lam = u[idx], lam[idx]
    else:
        idx = None
    p = np.exp(-lam)
    sel = np.flatnonzero(u >= p)  # F(0) = p; N = min{k : u < F(k)}
    if idx is None:
        idx = sel
    else:
        idx = idx[sel]
    u, lam, p = u[sel], lam[sel], p[sel]
    F = p.copy()
    k = 0
    while idx.size:
        k += 1
        p *= lam
        p /= k
        F += p
        done = (u < F) | (p < F * _TAIL)
        counts[idx[done]] = k
        if k >= _KMAX:
            counts[idx[~done]] = k
            break
        keep = ~done
        idx, u, lam, p, F = idx[keep], u[keep], lam[keep], p[keep], F[keep]
    return counts


def _segment_sum(x: np.ndarray, nz: np.ndarray, nz_starts: np.ndarray, m: int) -> np.ndarray:
    """Per-trial sums of per-event values ``x`` (the events of a trial are contiguous).

    ``nz`` are the trials (of ``m``) that have events and ``nz_starts`` their first event. The
    additions of a trial's sum involve only its own events, so the sums do not depend on how
    trials are chunked.
    """
    out = np.zeros(m, dtype=x.dtype)
    if nz.size:
        out[nz] = np.add.reduceat(x, nz_starts)
    return out


def _join(parts: list[np.ndarray]) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0)
