"""The exact formulations of one scenario's block in the mixed-integer program.

``subset`` (the convex hull: one variable per allowed subset of the touching candidates),
``logspace`` (outer approximation of exp by tangent cuts, refined by :meth:`_add_cuts` in the
solve loop) and ``product`` (sequential-product linearisation); step variables for the SL
levels and the harm-tolerance rows they share. :class:`_Formulations` is mixed into
:class:`riskkit.portfolio.milp._MIP`, which owns the columns and rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..rules import sl_factor
from .constraints import _harm_message
from .problem import _FLOOR, InfeasiblePlan, _Block


@dataclass
class _Term:
    """One money term exp(u) of a ``logspace`` block, bounded below by tangent cuts on w."""

    block: int
    k: int
    w: int
    u0: float
    cols: np.ndarray
    coefs: np.ndarray
    W: float = 1.0  # w is measured in units of exp(u0), the term's largest value
    points: list = field(default_factory=list)


class _Formulations:
    """Builders of the blocks, one per formulation.

    Each returns (cols, coefs, constant) of the block's expected loss [scaled] in the
    objective.
    """

    def _allowed(self, blk: _Block, bits: np.ndarray, b: int) -> np.ndarray:
        inst = self.inst
        ok = np.ones(len(bits), dtype=bool)
        gof = inst.group_of[blk.idx]
        for g in np.unique(gof[gof >= 0]):
            ok &= bits[:, gof == g].sum(axis=1) <= 1
        ok &= ~bits[:, inst.blocked[blk.idx]].any(axis=1)
        ok &= bits[:, inst.mandatory[blk.idx]].all(axis=1)
        return ok

    def _constant(self, b, blk):
        loss, harm = blk.evaluate(np.zeros((1, 0), dtype=bool))
        return np.zeros(0, dtype=np.int64), np.zeros(0), float(loss[0]) / self.scale

    def _subset(self, b, blk):
        codes = np.arange(2**blk.m)
        bits = ((codes[:, None] >> np.arange(blk.m)) & 1).astype(bool)
        ok = self._allowed(blk, bits, b)
        ok &= (blk.harm_table <= self.rules.harm_tol[b] * (1 + 1e-9)).all(axis=1)
        if not ok.any():
            raise InfeasiblePlan(_harm_message(self.inst, self.rules, b))
        codes, bits = codes[ok], bits[ok]
        coef = blk.table[codes] / self.scale
        y = self._cols(len(codes), 0.0, 1.0, 0, coef)
        self._row(y, np.ones(len(y)), 1.0, 1.0)
        for j, i in enumerate(blk.idx):
            sel = y[bits[:, j]]
            self._row(np.append(sel, i), np.append(np.ones(len(sel)), -1.0), 0.0, 0.0)
        return y, coef, 0.0

    def _steps(self, blk: _Block, integer: bool):
        """Step variables z_l = [protection >= l] for the levels the candidates can add."""
        l0 = min(blk.base_level, blk.cap)
        usable = ~self.inst.blocked[blk.idx]
        top = blk.fr_lev[usable].max(axis=0) if usable.any() else np.zeros(len(blk.fr_base))
        lmax = min(int(np.maximum(blk.fr_base, top).min()), blk.cap)
        levels = list(range(l0 + 1, lmax + 1))
        z = self._cols(len(levels), 0.0, 1.0, int(integer), 0.0)
        for t, lvl in enumerate(levels):
            for k in range(len(blk.fr_base)):
                if blk.fr_base[k] >= lvl:
                    continue
                who = blk.idx[(blk.fr_lev[:, k] >= lvl) & usable]
                self._row(np.append(z[t], who), np.append(1.0, -np.ones(len(who))), -np.inf, 0)
            if t:
                self._row([z[t], z[t - 1]], [1.0, -1.0], -np.inf, 0.0)
        return z, l0

    def _harm_rows(self, b, blk, z, l0):
        lnr = math.log(blk.r)
        for h in range(2):
            tol = self.rules.harm_tol[b, h]
            if not np.isfinite(tol) or blk.harm_p[h] <= 0 or blk.rate0 <= 0:
                continue
            coef = np.log(np.maximum(blk.f * blk.gh[:, h], _FLOOR))
            cols = np.concatenate([blk.idx, z])
            vals = np.concatenate([coef, -lnr * np.ones(len(z))])
            const = math.log(blk.rate0 * blk.harm_p[h]) - lnr * l0
            keep = vals != 0
            if not keep.any():
                if const > math.log(tol) + 1e-9:
                    raise InfeasiblePlan(_harm_message(self.inst, self.rules, b))
                continue
            self._row(cols[keep], vals[keep], -np.inf, math.log(tol) - const + 1e-9)

    def _state_cols(self, b, blk):
        """Binary state variables y_s (one SL-A state each, sum 1) and their support rows.

        A state's level l in FR k of an element needs a chosen candidate raising it to >= l:
        sum of y_s over the states at >= l <= sum of those candidates' x. Losses fall as levels
        rise, so at the optimum the chosen state is the plan's own (exact).
        """
        states, rate, cons, support = blk.level_states()
        self._ychunk = len(self._obj)  # where y's objective coefficients live
        y = self._cols(len(states), 0.0, 1.0, 1, 0.0)
        self._row(y, np.ones(len(y)), 1.0, 1.0)
        for e, k, lv, who in support:
            sel = y[states[:, e, k] >= lv]
            cols = np.concatenate([sel, blk.idx[who]])
            vals = np.concatenate([np.ones(len(sel)), -np.ones(len(who))])
            self._row(cols, vals, -np.inf, 0.0)
        return y, rate, cons

    def _state_harm_rows(self, b, blk, y, rate):
        for h in range(2):
            tol = self.rules.harm_tol[b, h]
            if not np.isfinite(tol) or blk.harm_p[h] <= 0 or blk.rate0 <= 0:
                continue
            lr = np.log(np.maximum(rate, _FLOOR))
            coef = np.log(np.maximum(blk.f * blk.gh[:, h], _FLOOR))
            cols = np.concatenate([blk.idx, y[1:]])
            vals = np.concatenate([coef, lr[1:] - lr[0]])
            const = math.log(blk.rate0 * blk.harm_p[h]) + lr[0]
            keep = vals != 0
            if not keep.any():
                if const > math.log(tol) + 1e-9:
                    raise InfeasiblePlan(_harm_message(self.inst, self.rules, b))
                continue
            self._row(cols[keep], vals[keep], -np.inf, math.log(tol) - const + 1e-9)

    def _states_logspace(self, b, blk):
        """``logspace`` for a block outside today's form (:func:`riskkit.rules.separable`).

        u_k = ln(rate0 money_k) + sum_s ln(F_s C_sk) y_s + sum_j ln(f_j g_jk) x_j, with
        exp(u_k) bounded below by tangent cuts as for the other logspace terms.
        """
        y, rate, cons = self._state_cols(b, blk)
        self._state_harm_rows(b, blk, y, rate)
        cols_out, vals_out, const = [], [], 0.0
        lf = np.log(np.maximum(blk.f, _FLOOR))
        for k in range(len(blk.money)):
            if blk.money[k] <= 0 or blk.rate0 <= 0:
                continue
            a = np.log(np.maximum(rate * cons[:, k], _FLOOR))
            u0 = math.log(blk.rate0 * blk.money[k] / self.scale) + a[0]
            coefs = np.concatenate([lf + np.log(np.maximum(blk.g[:, k], _FLOOR)), a[1:] - a[0]])
            cols = np.concatenate([blk.idx, y[1:]])
            keep = coefs != 0
            cols, coefs = cols[keep], coefs[keep]
            if not len(cols):
                const += math.exp(u0)
                continue
            W = math.exp(u0)
            w = self._cols(1, 0.0, np.inf, 0, W)[0]
            term = _Term(b, k, int(w), u0, cols, coefs, W)
            umin = u0 + coefs[coefs < 0].sum()
            for pt in np.linspace(umin, u0, 6):
                self._cut(term, float(pt))
            self.terms.append(term)
            cols_out.append([w])
            vals_out.append([W])
        if not cols_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols_out), np.concatenate(vals_out), const

    def _states_product(self, b, blk):
        """``product`` for a block outside today's form (:func:`riskkit.rules.separable`).

        The chain of products starts from sum_s F_s C_sk y_s (in units of its base value)
        instead of 1.
        """
        y, rate, cons = self._state_cols(b, blk)
        self._state_harm_rows(b, blk, y, rate)
        cols_out, vals_out, const = [], [], 0.0
        for k in range(len(blk.money)):
            if blk.money[k] <= 0 or blk.rate0 <= 0:
                continue
            c = rate * cons[:, k]
            p0 = blk.rate0 * c[0] * blk.money[k] / self.scale
            rel = c / c[0] if c[0] > 0 else np.zeros_like(c)
            phi = np.maximum(blk.f * blk.g[:, k], _FLOOR)
            chain = [(int(i), float(v)) for i, v in zip(blk.idx, phi) if v < 1]
            if not chain:  # linear in the states
                self._obj[self._ychunk] += p0 * rel
                cols_out.append(y)
                vals_out.append(p0 * rel)
                continue
            prev = None  # p and q are measured in units of p0
            for var, ph in chain:
                p, q = self._cols(2, 0.0, 1.0, 0, 0.0)
                if prev is None:  # p + (1 - ph) q = sum_s rel_s y_s, q <= that sum
                    self._row(np.append([p, q], y), np.append([1.0, 1 - ph], -rel), 0.0, 0.0)
                    self._row(np.append(q, y), np.append(1.0, -rel), -np.inf, 0.0)
                else:
                    self._row([p, prev, q], [1.0, -1.0, 1 - ph], 0.0, 0.0)
                    self._row([q, prev], [1.0, -1.0], -np.inf, 0.0)
                self._row([q, var], [1.0, -1.0], -np.inf, 0.0)
                prev = p
            self._obj[-1][-2] = p0  # the last p of the chain carries the loss
            cols_out.append([prev])
            vals_out.append([p0])
        if not cols_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols_out), np.concatenate(vals_out), const

    def _logspace(self, b, blk):
        if not blk.separable:
            return self._states_logspace(b, blk)
        z, l0 = self._steps(blk, integer=False)
        self._harm_rows(b, blk, z, l0)
        lnr = math.log(blk.r)
        cols_out, vals_out, const = [], [], 0.0
        lf = np.log(np.maximum(blk.f, _FLOOR))
        for k in range(len(blk.money)):
            if blk.money[k] <= 0 or blk.rate0 <= 0:
                continue
            u0 = math.log(blk.rate0 * blk.money[k] / self.scale) - lnr * l0
            coefs = np.concatenate(
                [lf + np.log(np.maximum(blk.g[:, k], _FLOOR)), -lnr * np.ones(len(z))]
            )
            cols = np.concatenate([blk.idx, z])
            keep = coefs != 0
            cols, coefs = cols[keep], coefs[keep]
            if not len(cols):
                const += math.exp(u0)
                continue
            W = math.exp(u0)
            w = self._cols(1, 0.0, np.inf, 0, W)[0]
            term = _Term(b, k, int(w), u0, cols, coefs, W)
            umin = u0 + coefs[coefs < 0].sum()
            for a in np.linspace(umin, u0, 6):
                self._cut(term, float(a))
            self.terms.append(term)
            cols_out.append([w])
            vals_out.append([W])
        if not cols_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols_out), np.concatenate(vals_out), const

    def _cut(self, term: _Term, a: float) -> None:
        """Tangent of exp at a: W w >= e^a (1 + u - a)."""
        ea = math.exp(a) / term.W
        self._row(
            np.append(term.w, term.cols),
            np.append(1.0, -ea * term.coefs),
            ea * (1 + term.u0 - a),
            np.inf,
        )
        term.points.append(a)

    def _product(self, b, blk):
        if not blk.separable:
            return self._states_product(b, blk)
        z, l0 = self._steps(blk, integer=True)
        self._harm_rows(b, blk, z, l0)
        cols_out, vals_out, const = [], [], 0.0
        for k in range(len(blk.money)):
            if blk.money[k] <= 0 or blk.rate0 <= 0:
                continue
            p0 = blk.rate0 * sl_factor(blk.r, l0, blk.cap) * blk.money[k] / self.scale
            phi = np.maximum(blk.f * blk.g[:, k], _FLOOR)
            chain = [(int(i), float(v)) for i, v in zip(blk.idx, phi) if v < 1]
            chain += [(int(zz), 1.0 / blk.r) for zz in z]
            prev = None  # p and q are measured in units of p0
            for var, ph in chain:
                p, q = self._cols(2, 0.0, 1.0, 0, 0.0)
                if prev is None:
                    self._row([p, q], [1.0, 1 - ph], 1.0, 1.0)
                else:
                    self._row([p, prev, q], [1.0, -1.0, 1 - ph], 0.0, 0.0)
                    self._row([q, prev], [1.0, -1.0], -np.inf, 0.0)
                self._row([q, var], [1.0, -1.0], -np.inf, 0.0)
                prev = p
            if prev is None:
                const += p0
            else:
                self._obj[-1][-2] = p0  # the last p of the chain carries the loss
                cols_out.append([prev])
                vals_out.append([p0])
        if not cols_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0), const
        return np.concatenate(cols_out), np.concatenate(vals_out), const

    def _add_cuts(self, sol: np.ndarray, x: np.ndarray, terms: list[_Term]) -> int:
        """Tangent cuts where a term's w lies below exp(u) at the solution."""
        added = 0
        if not terms:
            return 0
        vals = {}
        for t in terms:
            blk = self.inst.blocks[t.block]
            if t.block not in vals:
                vals[t.block] = blk.terms(x[blk.idx][None])[1][0] / self.scale
            true = vals[t.block][t.k]
            w = sol[t.w] * t.W
            u_mip = t.u0 + float(t.coefs @ sol[t.cols])
            for u in {math.log(true) if true > 0 else None, u_mip}:
                if u is None:
                    continue
                target = math.exp(u)
                if w < target * (1 - 1e-9) - 1e-15 and not any(
                    abs(u - a) < 1e-12 for a in t.points
                ):
                    self._cut(t, u)
                    added += 1
        return added
