"""Greedy by marginal risk reduction per cost, plain and with partial enumeration."""

from __future__ import annotations

import itertools

import numpy as np


def _greedy_runs(inst, rules, cost, budget, starts, hi, record=False, batch=256):
    """Greedy by marginal reduction per cost from each start plan, vectorised over starts.

    ``budget`` is a scalar or one budget per start. First, while SL gaps are open (with the
    ``close_gaps`` constraint), the candidate closing the most open gaps per cost is added;
    then the candidate with the largest reduction of expected loss per cost that fits the
    remaining budget and its exclusive group, until none reduces the loss. Returns the plans
    (P, n) and, with ``record``, the order of additions of the first start as
    (candidate, gain).
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=bool))
    budgets = np.broadcast_to(np.asarray(budget, dtype=float), (len(starts),))
    if len(starts) > batch and not record:
        parts = [
            _greedy_runs(inst, rules, cost, budgets[a : a + batch], starts[a : a + batch], hi)[0]
            for a in range(0, len(starts), batch)
        ]
        return np.concatenate(parts), []
    x = starts.copy()
    if inst.n == 0:
        return x, []
    p = len(x)
    rows_all = np.arange(p)
    spent = x.astype(float) @ cost
    allowed = hi > 0
    slack = 1e-12 * np.where(np.isfinite(budgets), budgets, 0) + 1e-9
    seq: list = []
    tol = 1e-12 * inst.scale

    def eligible():
        e = ~x & allowed[None] & (cost[None] <= (budgets - spent + slack)[:, None])
        for members in inst.groups.values():
            used = x[:, members].any(axis=1)
            if used.any():
                e[np.ix_(used, members)] = False
        return e

    def add(score):
        ratio = np.where(cost[None] > 0, score / np.maximum(cost[None], 1e-300), np.inf)
        ratio = np.where(elig, ratio, -np.inf)
        j = ratio.argmax(axis=1)
        ok = ratio[rows_all, j] > -np.inf
        rows = np.flatnonzero(ok)
        if len(rows):
            x[rows, j[rows]] = True
            spent[rows] += cost[j[rows]]
        return rows, j

    if rules.gaps:
        cover = np.zeros((len(rules.gaps), inst.n))
        for g, gap in enumerate(rules.gaps):
            cover[g, gap.closers] = 1.0
        while True:
            open_ = (x.astype(float) @ cover.T) == 0
            score = open_.astype(float) @ cover
            elig = eligible() & (score > 0)
            rows, j = add(score)
            if not len(rows):
                break
            if record and rows[0] == 0:
                seq.append((int(j[0]), np.nan))
    codes = inst.codes(x)
    cache: dict = {}
    dirty = None
    while True:
        gain = _gains(inst, x, codes, cache, dirty)
        elig = eligible() & (gain > tol)
        rows, j = add(gain)
        if not len(rows):
            break
        codes[rows] |= inst.bitmat[j[rows]]
        dirty = set()
        for c in np.unique(j[rows]):
            dirty.update(inst.candidate_blocks[c].tolist())
        if record and rows[0] == 0:
            seq.append((int(j[0]), float(gain[0, j[0]])))
    return x, seq


def _gains(inst, x: np.ndarray, codes: np.ndarray, cache=None, dirty=None) -> np.ndarray:
    """Reduction of expected loss [currency/yr] from adding each candidate to plans (P, n).

    :meth:`Problem.gains`, with each block too large to tabulate evaluated once for all
    its one-candidate additions (one call per block instead of one per candidate). With a
    ``cache`` (a dict kept between calls on the same plans), only the large blocks in
    ``dirty`` (indices; None for all) are evaluated again, the others taken from the cache.
    """
    tab, off, pb, pc, pbit, inc, big = inst.flat()
    if not big:
        return inst.gains(x, codes)
    cur = codes[:, pb]
    vals = tab[off[pb] + cur] - tab[off[pb] + (cur | pbit)]
    g = np.asarray(inc.T @ vals.T).T if len(pb) else np.zeros((x.shape[0], inst.n))
    cache = {} if cache is None else cache
    p = x.shape[0]
    for b in big:
        blk = inst.blocks[b]
        if b not in cache or dirty is None or b in dirty:
            m = blk.m
            bits = x[:, blk.idx]
            now, _ = blk.evaluate(bits)
            alt = np.repeat(bits[:, None, :], m, axis=1)  # (P, m, m): row j adds candidate j
            alt[:, np.arange(m), np.arange(m)] = True
            after, _ = blk.evaluate(alt.reshape(p * m, m))
            cache[b] = now[:, None] - after.reshape(p, m)
        g[:, blk.idx] += cache[b]
    return g


def _seeds(inst, cost, budget, lo, hi, depth):
    """Start plans of the partial enumeration: forced items plus small feasible sets."""
    forced = lo > 0
    free = [i for i in range(inst.n) if hi[i] > 0 and not forced[i]]
    left = budget - cost[forced].sum()
    out = [forced.copy()]
    for r in range(1, depth + 1):
        for combo in itertools.combinations(free, r):
            if cost[list(combo)].sum() > left * (1 + 1e-12) + 1e-9:
                continue
            g = inst.group_of[list(combo)]
            g = g[g >= 0]
            if len(g) != len(set(g)):
                continue
            s = forced.copy()
            s[list(combo)] = True
            out.append(s)
    return np.array(out)
