"""A plan's reduction attributed to its members: stand-alone, drop-one and Shapley values."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..site import Site
from .problem import Problem, _problem
from .results import (
    Attribution,
)


def attribution(
    site: Site,
    plan: Iterable[str],
    *,
    samples: int = 2000,
    seed: int = 0,
    problem: Problem | None = None,
) -> Attribution:
    """Attribute a plan's reduction of expected annual loss to its members three ways.

    With v(A) = ALE(current) - ALE(current + A) [currency/yr], the reduction of a subset A
    of the plan N:

    - stand-alone: v({i});
    - drop-one: v(N) - v(N - {i});
    - Shapley: phi_i = sum over A ⊆ N - {i} of |A|! (n - |A| - 1)! / n! (v(A ∪ {i}) - v(A)),
      which sums exactly to v(N).

    The Shapley values are computed exactly, scenario by scenario (the game is a sum of one
    game per scenario, and the Shapley value is additive), over the plan's members touching
    each scenario; if more than 20 members touch one scenario, that scenario's values are
    estimated from ``samples`` random orders drawn with ``seed``.

    Parameters
    ----------
    site : Site
    plan : iterable of str
        Candidate ids.
    samples, seed : int
        Only for scenarios touched by more than 20 members.
    problem : Problem, optional
        The site's :class:`~riskkit.portfolio.Problem`, shared between calls.

    Returns
    -------
    Attribution

    References
    ----------
    .. [1] Shapley, L. S. (1953). A value for n-person games. *Annals of Mathematics
       Studies* 28, 307-317.
    """
    inst = _problem(site, problem)
    members = tuple(dict.fromkeys(plan))
    x = inst.mask(members)
    pos = [inst.pos[c] for c in members]
    base = inst.total(np.zeros((1, inst.n), dtype=bool))[0]
    full = inst.total(x[None])[0]
    single = np.zeros((len(pos), inst.n), dtype=bool)
    single[np.arange(len(pos)), pos] = True
    standalone = base - inst.total(single)
    drop = np.repeat(x[None], len(pos), axis=0)
    drop[np.arange(len(pos)), pos] = False
    drop_one = inst.total(drop) - full
    shap = np.zeros(inst.n)
    rng = np.random.default_rng(seed)
    for blk in inst.blocks:
        local = [j for j, i in enumerate(blk.idx) if x[i]]
        if not local:
            continue
        if len(local) <= 20:
            shap[blk.idx[local]] += _exact_shapley(blk, local)
        else:
            shap[blk.idx[local]] += _sampled_shapley(blk, local, samples, rng)
    reduction = base - full
    df = pd.DataFrame(
        {
            "countermeasure": list(members),
            "name": [inst.names[i] for i in pos],
            "standalone": standalone,
            "drop_one": drop_one,
            "shapley": shap[pos],
        }
    ).set_index("countermeasure")
    df["shapley_share"] = df["shapley"] / reduction if reduction else np.nan
    return Attribution(members, float(reduction), df)


def _exact_shapley(blk, local: list[int]) -> np.ndarray:
    """Shapley values [currency/yr] of the members at positions ``local`` of one block."""
    k = len(local)
    codes = np.arange(1 << k)
    bits = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
    full_bits = np.zeros((len(codes), blk.m), dtype=bool)
    full_bits[:, local] = bits
    v = -blk.evaluate(full_bits)[0]
    size = bits.sum(axis=1)
    fact = np.array([math.factorial(s) for s in range(k + 1)], dtype=float)
    w = fact[size] * fact[k - size - 1 + (size == k)] / fact[k]
    out = np.zeros(k)
    for j in range(k):
        without = ~bits[:, j]
        out[j] = float((w[without] * (v[codes[without] | (1 << j)] - v[codes[without]])).sum())
    return out


def _sampled_shapley(blk, local: list[int], samples: int, rng) -> np.ndarray:
    """Shapley values [currency/yr] estimated from ``samples`` random orders."""
    k = len(local)
    acc = np.zeros(k)
    for _ in range(samples):
        order = rng.permutation(k)
        cur = np.zeros((1, blk.m), dtype=bool)
        prev = blk.evaluate(cur)[0][0]
        for j in order:
            cur[0, local[j]] = True
            now = blk.evaluate(cur)[0][0]
            acc[j] += prev - now
            prev = now
    return acc / samples
