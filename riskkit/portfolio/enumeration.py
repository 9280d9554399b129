"""Exact enumeration of every plan (``method='enumerate'``, small instances)."""

from __future__ import annotations

import numpy as np

from .problem import (
    ENUMERATE_MAX,
    _fmt,
)


def _enumerate(inst, rules, cost, budget, lo, hi, top: int = 1):
    """Best plans by brute force: (loss, cost, x) sorted, at most ``top``."""
    if inst.n > ENUMERATE_MAX:
        raise ValueError(
            f"method 'enumerate' handles at most {ENUMERATE_MAX} candidates, this site has {inst.n}"
        )
    best: list = []
    free = np.flatnonzero((hi > 0) & (lo == 0))
    fixed = lo > 0
    k = len(free)
    chunk = 1 << min(k, 16)
    for start in range(0, 1 << k, chunk):
        codes = np.arange(start, min(start + chunk, 1 << k))
        bits = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
        x = np.zeros((len(codes), inst.n), dtype=bool)
        x[:, free] = bits
        x[:, fixed] = True
        ok = x.astype(float) @ cost <= budget * (1 + 1e-12) + 1e-9
        for members in inst.groups.values():
            ok &= x[:, members].sum(axis=1) <= 1
        x = x[ok]
        if not len(x):
            continue
        x = x[rules.feasible(x)]
        if not len(x):
            continue
        tot = inst.total(x)
        c = x.astype(float) @ cost
        order = np.lexsort((c, tot))[:top]
        best += [(tot[j], c[j], x[j]) for j in order]
        best.sort(key=lambda t: (t[0], t[1]))
        best = best[:top]
    return best


def _enumerate_diagnosis(inst, rules, cost, budget, lo, hi, kind) -> str:
    best = _enumerate(inst, rules, cost, np.inf, lo, hi)
    unit = f"{inst.site.currency}/yr" if kind == "annualised" else inst.site.currency
    if not best:
        if rules.zone_tol:
            x = np.ones(inst.n, dtype=bool)
            for z, tol in rules.zone_tol.items():
                loss = inst.block_values(x[None])[0][0, inst.block_zone == z].sum()
                if loss > tol:
                    return (
                        f"zone {inst.zones[z]} cannot meet its tolerance per_zone_ale of"
                        f" {_fmt(tol)} {inst.site.currency}/yr with any plan"
                    )
        return "no plan satisfies the constraints together, whatever the budget"
    need = min(c for _, c, _ in _enumerate(inst, rules, cost, np.inf, lo, hi, top=1 << 20))
    return (
        f"the constraints {', '.join(rules.cons) or '(none)'} need at least {_fmt(need)} {unit}"
        f" ({kind}), above the budget of {_fmt(budget)} {unit}"
    )
