"""Tests of the Monte Carlo engine against closed forms of the compound Poisson model.

Tolerances (stated once, used throughout):

- a mean is accepted when |mean - E| <= 4 analytic standard errors, SE = sqrt(Var / n);
- a probability (P(S = 0), P(S >= x), a quantile's tail) is accepted when the count of
  trials is within 4 binomial standard deviations of n p;
- quantiles and exceedance probabilities of S = sum_{i <= N} X_i, N ~ Poisson(lam),
  X ~ lognormal, come from an FFT of the compound distribution with the severity discretised
  twice on a grid of step h: rounded down (S_lo <= S) and rounded up (S_hi >= S), which
  brackets the exact answer: P(S_lo >= x) <= P(S >= x) <= P(S_hi >= x).
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from riskkit import engine
from riskkit.cli import cli
from riskkit.engine import BLOCK, moments, simulate, simulate_many
from riskkit.exposure import expected_losses

K = 4.0  # tolerance in standard errors / binomial standard deviations

LN = {"dist": "lognormal", "low": 1e4, "high": 1e6}  # 90 % interval
Z95 = stats.norm.ppf(0.95)
MU = 0.5 * (math.log(1e4) + math.log(1e6))
SIGMA = (math.log(1e6) - math.log(1e4)) / (2 * Z95)
EX = math.exp(MU + SIGMA**2 / 2)  # E[X]
EX2 = math.exp(2 * MU + 2 * SIGMA**2)  # E[X^2]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def scenario(sid, lam, zone="Z1", actor="A", frs=("FR1",), **extra):
    cons = extra.pop("consequences", {"equipment": LN})
    return {
        "id": sid,
        "zone": zone,
        "actor": actor,
        "frs": list(frs),
        "rate": lam,
        "vulnerability": 1,
        "consequences": cons,
        **extra,
    }


def cp_site(make_site, scenarios, countermeasures=(), zones=None, actors=None, r=10):
    d = {
        "site": {"name": "compound Poisson test"},
        "zones": zones or [{"id": "Z1"}],
        "threat_actors": actors or [{"id": "A", "capability": 4, "attempt_rate": 1}],
        "scenarios": list(scenarios),
        "countermeasures": list(countermeasures),
        "model": {"sl_reduction_per_level": r, "sl_effect": "orders"},  # the r^-min(L, c) rule
    }
    return make_site(d)


def check_mean(xbar, mean, var, n, what=""):
    se = math.sqrt(var / n)
    assert abs(xbar - mean) <= K * se, f"{what}: mean {xbar:.6g}, expected {mean:.6g} +- {se:.3g}"


def check_count(count, p_lo, p_hi, n, what=""):
    """count ~ Binomial(n, p) with p in [p_lo, p_hi]."""
    lo = n * p_lo - K * math.sqrt(n * p_lo * (1 - p_lo))
    hi = n * p_hi + K * math.sqrt(n * p_hi * (1 - p_hi))
    assert lo <= count <= hi, f"{what}: {count} outside [{lo:.1f}, {hi:.1f}] of {n}"


class CompoundBracket:
    """Distribution of S = sum of Poisson(lam) lognormal(mu, sigma) by FFT, bracketed."""

    def __init__(self, lam, scale=1.0, h=500.0, m=1 << 17):
        grid = np.arange(m + 1) * h
        F = stats.lognorm(s=SIGMA, scale=scale * math.exp(MU)).cdf(grid)
        f_lo = np.append(np.diff(F), 1 - F[-1])  # X rounded down; the tail sits at m h
        f_hi = np.concatenate([[F[0]], np.diff(F)])  # X rounded up; the tail is lost (S_hi = inf)
        self.h = h
        self.cdf_lo = np.cumsum(self._compound(lam, f_lo))  # P(S_lo <= k h)
        self.cdf_hi = np.cumsum(self._compound(lam, f_hi))  # P(S_hi <= k h), S_hi finite

    @staticmethod
    def _compound(lam, f):
        n = 1 << int(math.ceil(math.log2(4 * f.size)))
        theta = 20.0 / n  # exponential tilting damps the wrap-around of the FFT
        k = np.arange(n)
        tilt = np.exp(-theta * k)
        phi = np.fft.rfft(np.pad(f, (0, n - f.size)) * tilt)
        g = np.fft.irfft(np.exp(lam * (phi - 1)), n) / tilt
        return np.clip(g[: f.size], 0, None)

    def exceed(self, x):
        """Bracket (lo, hi) of P(S >= x)."""
        k = int(math.ceil(x / self.h)) - 1  # grid points below x: 0..k
        return 1 - self.cdf_lo[k], 1 - self.cdf_hi[k]

    def quantile(self, q):
        """Bracket (lo, hi) of the q-quantile of S."""
        lo = np.searchsorted(self.cdf_lo, q) * self.h
        hi = np.searchsorted(self.cdf_hi, q) * self.h
        return lo, hi


# --------------------------------------------------------------------------------------------
# compound Poisson-lognormal: mean, P(S = 0), exceedance, quantiles
# --------------------------------------------------------------------------------------------

N_BIG = 200_000


@pytest.fixture(scope="module")
def cp_one():
    lam = 1.5
    return lam, CompoundBracket(lam)


def test_mean_and_zero_probability(make_site, cp_one):
    lam, _ = cp_one
    site = cp_site(make_site, [scenario("S1", lam)])
    sim = simulate(site, trials=N_BIG, seed=11)
    s = sim.losses("site")["site"].to_numpy()
    check_mean(s.mean(), lam * EX, lam * EX2, N_BIG, "E[S]")
    check_count(np.count_nonzero(s == 0), math.exp(-lam), math.exp(-lam), N_BIG, "P(S=0)")
    row = sim.summary("site").loc["site"]
    assert row["p_zero"] == np.count_nonzero(s == 0) / N_BIG
    assert row["ale"] == pytest.approx(s.mean(), rel=1e-12)
    assert row["ale_se"] == pytest.approx(s.std(ddof=1) / math.sqrt(N_BIG), rel=1e-9)
    assert row["expected_ale"] == pytest.approx(lam * EX, rel=1e-12)
    # the closed-form moments are those of the compound Poisson-lognormal
    m = moments(site).loc["S1"]
    assert m["mean"] == pytest.approx(lam * EX, rel=1e-12)
    assert m["var"] == pytest.approx(lam * EX2, rel=1e-12)


def test_exceedance_and_quantiles_against_fft(make_site, cp_one):
    lam, ref = cp_one
    site = cp_site(make_site, [scenario("S1", lam)])
    sim = simulate(site, trials=N_BIG, seed=12)
    xs = [5e4, 2e5, 1e6, 3e6, 1e7]
    ex = sim.exceedance("site", points=xs)["site"]
    for x in xs:
        p_lo, p_hi = ref.exceed(x)
        check_count(round(ex.loc[x] * N_BIG), p_lo, p_hi, N_BIG, f"P(S >= {x:g})")
    row = sim.summary("site").loc["site"]
    for q in (0.90, 0.95, 0.99):
        d = K * math.sqrt(q * (1 - q) / N_BIG)
        lo, _ = ref.quantile(q - d)
        _, hi = ref.quantile(q + d)
        var = row[f"var{round(q * 100)}"]
        assert lo <= var <= hi, f"VaR{q}: {var:.6g} not in [{lo:.6g}, {hi:.6g}]"
        # count of trials above the analytic quantile
        s = sim.losses("site")["site"].to_numpy()
        q_lo, q_hi = ref.quantile(q)
        check_count(np.count_nonzero(s > q_hi), 0, 1 - q, N_BIG, f"S > q{q}")
        check_count(np.count_nonzero(s >= q_lo), 1 - q, 1, N_BIG, f"S >= q{q}")


def test_expected_shortfall_is_mean_of_worst_years(make_site):
    site = cp_site(make_site, [scenario("S1", 2.0)])
    sim = simulate(site, trials=1000, seed=5)
    s = np.sort(sim.losses("site")["site"].to_numpy())
    row = sim.summary("site").loc["site"]
    for q in (0.90, 0.95, 0.99):
        k = round(1000 * (1 - q))  # 1000 (1 - q) is a whole number of worst years here
        assert row[f"es{round(q * 100)}"] == pytest.approx(s[-k:].mean(), rel=1e-12)
        assert row[f"var{round(q * 100)}"] == s[1000 - k - 1]
        assert row[f"es{round(q * 100)}"] >= row[f"var{round(q * 100)}"]


@pytest.mark.parametrize("lam", [0.05, 1.0, 6.0, 12.0])
def test_poisson_counts_by_inversion(lam):
    from riskkit.engine import _poisson_counts

    n = 200_000
    u = np.random.default_rng(7).random(n)
    counts = _poisson_counts(u, lam, None)
    # one rate for all trials (tabulated CDF) and per-trial rates (loop) give the same counts
    np.testing.assert_array_equal(counts, _poisson_counts(u, np.full(n, lam), None))
    for k in range(int(lam + 4 * math.sqrt(lam)) + 2):
        p = stats.poisson.pmf(k, lam)
        check_count(np.count_nonzero(counts == k), p, p, n, f"P(N={k}), rate {lam}")


# --------------------------------------------------------------------------------------------
# countermeasures and protection
# --------------------------------------------------------------------------------------------


def cm(cid, effects, status="implemented"):
    return {"id": cid, "status": status, "effects": effects}


def test_frequency_countermeasure_scales_mean(make_site):
    lam, e = 3.0, 0.3
    site = cp_site(
        make_site,
        [scenario("S1", lam)],
        [cm("CM-F", [{"type": "frequency", "scenarios": ["S1"], "reduction": e}])],
    )
    sims = simulate_many(site, ["unmitigated", "current"], trials=N_BIG, seed=21)
    s = sims["current"].losses("site")["site"].to_numpy()
    lam_e = lam * (1 - e)
    check_mean(s.mean(), lam_e * EX, lam_e * EX2, N_BIG, "E[S] (1-e)")
    check_count(np.count_nonzero(s == 0), math.exp(-lam_e), math.exp(-lam_e), N_BIG, "P(S=0)")
    # thinning: the current year keeps a subset of the unmitigated year's events
    u = sims["unmitigated"].losses("site")["site"].to_numpy()
    assert (s <= u).all() and (s < u).any()
    # an uncertain reduction acts through its mean: E[S] = lam (1 - E[e]) E[X]
    pert = {"dist": "pert", "low": 0.2, "mode": 0.5, "high": 0.9}
    site2 = cp_site(
        make_site,
        [scenario("S1", lam)],
        [cm("CM-F", [{"type": "frequency", "scenarios": ["S1"], "reduction": pert}])],
    )
    m = moments(site2).loc["S1"]
    e_mean = (0.2 + 4 * 0.5 + 0.9) / 6
    assert m["mean"] == pytest.approx(lam * (1 - e_mean) * EX, rel=1e-12)
    s2 = simulate(site2, trials=N_BIG, seed=22).losses("site")["site"].to_numpy()
    check_mean(s2.mean(), m["mean"], m["var"], N_BIG, "E[S] uncertain e")


def test_severity_scale_scales_every_quantile(make_site):
    lam, d = 1.5, 0.4
    c = 1 - d
    site = cp_site(
        make_site,
        [scenario("S1", lam)],
        [
            cm(
                "CM-C",
                [{"type": "consequence", "zones": ["Z1"], "category": "equipment", "reduction": d}],
            )
        ],
    )
    sims = simulate_many(site, ["unmitigated", "current"], trials=N_BIG, seed=31)
    s = sims["current"].losses("site")["site"].to_numpy()
    u = sims["unmitigated"].losses("site")["site"].to_numpy()
    # same events, each year's loss scaled by c
    np.testing.assert_allclose(s, c * u, rtol=1e-14, atol=0)
    ref = CompoundBracket(lam, scale=c, h=300.0)
    row = sims["current"].summary("site").loc["site"]
    ref_u = CompoundBracket(lam)
    for q in (0.90, 0.95, 0.99):
        dq = K * math.sqrt(q * (1 - q) / N_BIG)
        lo, hi = ref.quantile(q - dq)[0], ref.quantile(q + dq)[1]
        assert lo <= row[f"var{round(q * 100)}"] <= hi
        # the analytic quantile of c X is c times that of X
        assert ref.quantile(q)[0] <= c * ref_u.quantile(q)[1] + ref.h
        assert c * ref_u.quantile(q)[0] <= ref.quantile(q)[1] + ref.h


@pytest.mark.parametrize(
    "sl_a, capability, r, factor",
    [
        (2, 3, 10, 1e-2),  # SL 2 against capability 3: two orders of magnitude
        (4, 2, 10, 1e-2),  # a level above the actor's capability adds nothing
        (1, 4, 5, 0.2),  # r is a parameter
    ],
)
def test_security_level_effect(make_site, sl_a, capability, r, factor):
    lam = 40.0  # above the inversion range: numpy's Poisson sampler is used for the counts
    site = cp_site(
        make_site,
        [scenario("S1", lam, frs=("FR1", "FR3"))],
        zones=[{"id": "Z1", "sl_a": [sl_a, 4, sl_a, 4, 4, 4, 4]}],
        actors=[{"id": "A", "capability": capability, "attempt_rate": 1}],
        r=r,
    )
    s = simulate(site, trials=N_BIG, seed=41).losses("site")["site"].to_numpy()
    lam_f = lam * factor
    check_mean(s.mean(), lam_f * EX, lam_f * EX2, N_BIG, "E[S] SL")
    check_count(np.count_nonzero(s == 0), math.exp(-lam_f), math.exp(-lam_f), N_BIG, "P(S=0)")


def test_independent_zones_add_rates(make_site):
    lam1, lam2 = 0.7, 1.1
    site = cp_site(
        make_site,
        [scenario("S1", lam1, zone="Z1"), scenario("S2", lam2, zone="Z2")],
        zones=[{"id": "Z1"}, {"id": "Z2"}],
    )
    n = N_BIG
    sim = simulate(site, trials=n, seed=51)
    s = sim.losses("site")["site"].to_numpy()
    lam = lam1 + lam2
    check_mean(s.mean(), lam * EX, lam * EX2, n, "E[S1+S2]")
    check_count(np.count_nonzero(s == 0), math.exp(-lam), math.exp(-lam), n, "P(S=0)")
    ref = CompoundBracket(lam)
    ex = sim.exceedance("site", points=[1e5, 1e6, 5e6])["site"]
    for x, p in ex.items():
        check_count(round(p * n), *ref.exceed(x), n, f"P(S >= {x:g})")
    z = sim.losses("zone")
    np.testing.assert_array_equal(z["Z1"] + z["Z2"], s)


def test_parameter_uncertainty_matches_closed_form(base_site_dict, make_site):
    site = make_site(base_site_dict)
    n = 100_000
    sims = simulate_many(site, {"u": "unmitigated", "c": "current", "p": ["CM-2"]}, n, seed=61)
    for name, sim in sims.items():
        m = moments(site, sim.state)
        exp = expected_losses(site, sim.state)
        np.testing.assert_allclose(m["mean"], exp["ale"], rtol=1e-12)
        losses = sim.losses("scenario")
        for sid in losses:
            check_mean(losses[sid].mean(), m.loc[sid, "mean"], m.loc[sid, "var"], n, sid + name)
        rates = sim.event_rates()
        for sid in rates:
            var = m.loc[sid, "rate_m2"] - m.loc[sid, "rate"] ** 2
            check_mean(rates[sid].mean(), exp.loc[sid, "event_rate"], var, n, f"rate {sid}")


def test_harm_class_frequencies(make_site):
    lam, p, d = 2.0, 0.2, 0.5
    cons = {"equipment": LN, "safety": {"severity": 3, "probability": p}}
    cons2 = {"environment": {"severity": 2}}  # probability 1, no money
    site = cp_site(
        make_site,
        [scenario("S1", lam, consequences=cons), scenario("S2", 0.5, consequences=cons2)],
        [
            cm(
                "CM-S",
                [
                    {
                        "type": "consequence",
                        "scenarios": ["S1"],
                        "category": "safety",
                        "reduction": d,
                    }
                ],
                status="candidate",
            )
        ],
    )
    n = N_BIG
    sims = simulate_many(site, {"now": "current", "plan": ["CM-S"]}, trials=n, seed=71)
    for name, rate in (("now", lam * p), ("plan", lam * p * (1 - d))):
        h = sims[name].harm_frequency("safety", "scenario")
        for k in (1, 2, 3):
            check_mean(h.loc["S1", f"safety_ge{k}"], rate, rate, n, f"safety>={k} {name}")
        assert h.loc["S1", "safety_ge4"] == 0
        assert (h.loc["S2"] == 0).all()
    env = sims["now"].summary("site").loc["site"]
    check_mean(env["environment_ge2"], 0.5, 0.5, n, "environment>=2")
    assert env["environment_ge3"] == 0
    # every plan-harm event is also a current-harm event
    c = sims["now"].harm_counts("safety", "scenario")["S1"].to_numpy()
    pl = sims["plan"].harm_counts("safety", "scenario")["S1"].to_numpy()
    assert (pl <= c).all() and (pl < c).any()
    # money of S1 is untouched by a safety consequence effect
    np.testing.assert_array_equal(
        sims["now"].losses("scenario")["S1"], sims["plan"].losses("scenario")["S1"]
    )


# --------------------------------------------------------------------------------------------
# common random numbers and reproducibility
# --------------------------------------------------------------------------------------------


def test_protection_never_raises_a_trial_loss(refinery_site):
    site = refinery_site
    every = [c.id for c in site.candidates]
    s, n = 3, BLOCK + 2000  # two blocks, chunked and threaded differently per state
    u = simulate(site, trials=n, seed=s, state="unmitigated")
    c = simulate(site, trials=n, seed=s, chunk_size=1, workers=2)
    p = simulate(site, trials=n, seed=s, plan=every, workers=2)
    one = simulate(site, trials=n, seed=s, plan=["CM-22"], chunk_size=1)
    lu, lc, lp, l1 = (x.losses("scenario").to_numpy() for x in (u, c, p, one))
    assert (lc <= lu).all() and (lp <= l1).all() and (l1 <= lc).all()
    assert (lp < lc).sum() > 100 and (lc < lu).sum() > 100
    for cat in ("safety", "environment"):
        hu, hc, hp = (x.harm_counts(cat, "scenario").to_numpy() for x in (u, c, p))
        assert (hc <= hu).all() and (hp <= hc).all()
    ru, rc, rp = (x.event_rates().to_numpy() for x in (u, c, p))
    assert (rc <= ru).all() and (rp <= rc).all()


def assert_same(a, b):
    """Bit-identical losses, harm counts and event rates of two simulations."""
    np.testing.assert_array_equal(a.losses("scenario"), b.losses("scenario"))
    np.testing.assert_array_equal(a.losses("site"), b.losses("site"))
    for cat in ("safety", "environment"):
        np.testing.assert_array_equal(
            a.harm_counts(cat, "scenario"), b.harm_counts(cat, "scenario")
        )
    np.testing.assert_array_equal(a.event_rates(), b.event_rates())


T = 3 * BLOCK + 123  # three whole blocks of trials and the start of a fourth


@pytest.fixture
def chunks_seen(monkeypatch):
    """Records (first trial, end, runs in the main thread) of every chunk simulated."""
    seen = []
    init = engine._Chunk.__init__

    def spy(self, site, seed, plans, events, a, b):
        seen.append((a, b, threading.current_thread() is threading.main_thread()))
        init(self, site, seed, plans, events, a, b)

    monkeypatch.setattr(engine._Chunk, "__init__", spy)
    return seen


@pytest.mark.parametrize(
    "chunk, workers, bounds",
    [
        (None, 1, [(0, T)]),  # DEFAULT_CHUNK covers T
        (1, 1, [(0, BLOCK), (BLOCK, 2 * BLOCK), (2 * BLOCK, 3 * BLOCK), (3 * BLOCK, T)]),
        (BLOCK - 7, 2, [(0, BLOCK), (BLOCK, 2 * BLOCK), (2 * BLOCK, 3 * BLOCK), (3 * BLOCK, T)]),
        (BLOCK, 3, [(0, BLOCK), (BLOCK, 2 * BLOCK), (2 * BLOCK, 3 * BLOCK), (3 * BLOCK, T)]),
        (2 * BLOCK, 1, [(0, 2 * BLOCK), (2 * BLOCK, T)]),
        (2 * BLOCK + 1, 2, [(0, 3 * BLOCK), (3 * BLOCK, T)]),  # rounded up to three blocks
        (10 * BLOCK, 2, [(0, T)]),
        (None, 2, [(0, BLOCK), (BLOCK, 2 * BLOCK), (2 * BLOCK, 3 * BLOCK), (3 * BLOCK, T)]),
    ],
)
def test_same_numbers_for_every_chunk_size_and_worker_count(
    tiny_site, chunks_seen, chunk, workers, bounds
):
    site = tiny_site
    states = {"u": "unmitigated", "p": [c.id for c in site.candidates]}
    ref = simulate_many(site, states, trials=T, seed=9)  # one chunk, no threads
    chunks_seen.clear()
    sims = simulate_many(site, states, T, 9, chunk_size=chunk, workers=workers)
    assert sorted((a, b) for a, b, _ in chunks_seen) == bounds
    if workers > 1 and len(bounds) > 1:
        assert not any(main for _, _, main in chunks_seen)  # the chunks ran in the pool
    for k in states:
        assert_same(ref[k], sims[k])


def test_same_numbers_alone_and_together_and_for_another_seed(tiny_site):
    site = tiny_site
    plan = [c.id for c in site.candidates]
    ref = simulate_many(site, {"u": "unmitigated", "p": plan}, trials=T, seed=9)
    # one state at a time gives the same numbers as the shared pass
    alone = simulate(site, trials=T, seed=9, plan=plan, chunk_size=700, workers=None)
    np.testing.assert_array_equal(alone.losses("scenario"), ref["p"].losses("scenario"))
    # another seed, other numbers
    other = simulate(site, trials=T, seed=10, plan=plan)
    assert not np.array_equal(other.losses("scenario"), ref["p"].losses("scenario"))


def test_a_longer_run_extends_a_shorter_one(tiny_site):
    # trial t draws only from its own block, in trial order: a run of n trials is the start
    # of every longer run with the same seed
    short = simulate(tiny_site, trials=BLOCK + 50, seed=3)
    long = simulate(tiny_site, trials=T, seed=3, workers=2)
    np.testing.assert_array_equal(
        long.losses("scenario").to_numpy()[: BLOCK + 50], short.losses("scenario")
    )
    np.testing.assert_array_equal(long.event_rates().to_numpy()[: BLOCK + 50], short.event_rates())


def test_pieces_of_events_within_blocks_give_the_same_numbers(tiny_site, monkeypatch):
    # with a small MAX_EVENTS every block's per-event streams are drawn in many pieces
    ref = simulate(tiny_site, trials=T, seed=5, state="unmitigated")
    monkeypatch.setattr(engine, "MAX_EVENTS", 1000)
    cut = simulate(tiny_site, trials=T, seed=5, state="unmitigated", workers=2)
    assert_same(ref, cut)


def test_large_rates_across_blocks(make_site):
    # rates from 5 to 30 per year: some trials by inversion, others by numpy's sampler
    site = cp_site(make_site, [scenario("S1", {"dist": "uniform", "low": 5, "high": 30})])
    n = 2 * BLOCK + 5
    ref = simulate(site, trials=n, seed=6)
    assert_same(ref, simulate(site, trials=n, seed=6, chunk_size=1, workers=2))
    s = ref.losses("site")["site"].to_numpy()
    m = moments(site).loc["S1"]
    check_mean(s.mean(), m["mean"], m["var"], n, "E[S], rate U(5, 30)")


def test_blocks_are_independent(make_site):
    # were the blocks' streams shared, trial t and trial t + BLOCK would repeat each other
    lam = 1.5
    vul = {"dist": "pert", "low": 0.2, "mode": 0.5, "high": 0.9}
    site = cp_site(make_site, [scenario("S1", lam, vulnerability=vul)])
    sim = simulate(site, trials=2 * BLOCK, seed=4)
    s = sim.losses("site")["site"].to_numpy()
    rate = sim.event_rates()["S1"].to_numpy()
    for x, what in ((s > 0, "years with a loss"), (rate, "event rates"), (s, "losses")):
        r = np.corrcoef(x[:BLOCK], x[BLOCK:])[0, 1]
        assert abs(r) <= K / math.sqrt(BLOCK), f"{what}: correlation {r:.4f} between blocks"


def test_refinery_workers_and_chunks(refinery_site):
    n = BLOCK + 1000
    a = simulate(refinery_site, trials=n, seed=2)
    b = simulate(refinery_site, trials=n, seed=2, chunk_size=1100, workers=2)
    np.testing.assert_array_equal(a.losses("scenario"), b.losses("scenario"))
    np.testing.assert_array_equal(a.harm_counts("safety"), b.harm_counts("safety"))


# --------------------------------------------------------------------------------------------
# the example refinery and the result object
# --------------------------------------------------------------------------------------------

COLUMNS = [
    "ale",
    "ale_se",
    "var90",
    "var95",
    "var99",
    "es90",
    "es95",
    "es99",
    "p_zero",
    *[f"safety_ge{k}" for k in range(1, 5)],
    *[f"environment_ge{k}" for k in range(1, 5)],
    "expected_ale",
]


def test_refinery_simulates(refinery_site):
    site = refinery_site
    sims = simulate_many(site, ["unmitigated", "current"], trials=2000, seed=1)
    sim = sims["current"]
    assert sim.trials == 2000 and sim.seed == 1 and sim.state.name == "current"
    assert sim.currency == "EUR"
    n_s, n_z = len(site.scenarios), len(site.zones)
    for level, n_rows in (("scenario", n_s), ("zone", n_z), ("site", 1)):
        summ = sim.summary(level)
        assert list(summ.columns) == COLUMNS and len(summ) == n_rows
        assert (summ["var90"] <= summ["var95"]).all() and (summ["var95"] <= summ["var99"]).all()
        assert (summ["es99"] >= summ["var99"]).all()
    assert list(sim.losses("zone").columns) == [z.id for z in site.zones]
    assert sim.losses("scenario").shape == (2000, n_s)
    site_ale = sim.summary("site").loc["site", "ale"]
    assert site_ale == pytest.approx(sim.summary("zone")["ale"].sum(), rel=1e-12)
    ex = sim.exceedance("zone", points=50)
    assert ex.shape == (50, n_z) and (np.diff(ex.to_numpy(), axis=0) <= 0).all()
    assert sims["unmitigated"].summary("site").loc["site", "ale"] > site_ale
    assert list(sim.event_rates().columns) == [s.id for s in site.scenarios]


def test_refinery_scenario_means_match_closed_form(refinery_site):
    n = 20_000
    sim = simulate(refinery_site, trials=n, seed=8)
    m = moments(refinery_site, sim.state)
    ale = sim.summary("scenario")["ale"]
    for sid in ale.index:
        check_mean(ale[sid], m.loc[sid, "mean"], m.loc[sid, "var"], n, sid)


def test_bad_arguments(tiny_site):
    with pytest.raises(ValueError, match="trials must be an integer >= 100, 0 was given"):
        simulate(tiny_site, trials=0)
    # the site file's minimum holds for an override too (VaR99 needs 100 years)
    with pytest.raises(ValueError, match="trials must be an integer >= 100, 99 was given"):
        simulate(tiny_site, trials=99)
    assert simulate(tiny_site, trials=100).trials == 100
    with pytest.raises(ValueError, match="level must be one of"):
        simulate(tiny_site, trials=100).losses("plant")
    with pytest.raises(ValueError, match="unknown countermeasure 'CM-X'"):
        simulate(tiny_site, trials=100, plan=["CM-X"])
    with pytest.raises(ValueError, match="workers must be an integer >= 1, 0 was given"):
        simulate(tiny_site, trials=100, workers=0)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, 0 was given"):
        simulate(tiny_site, trials=100, chunk_size=0)


def test_defaults_come_from_the_site(tiny_site):
    sim = simulate(tiny_site)
    assert sim.trials == tiny_site.model.trials and sim.seed == tiny_site.model.seed


def test_cli_simulate(repo_root):
    path = str(repo_root / "tests" / "data" / "tiny" / "site.yaml")
    runner = CliRunner()
    res = runner.invoke(cli, ["simulate", path, "--trials", "500", "--seed", "4", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["trials"] == 500 and out["seed"] == 4 and out["state"] == "current"
    assert set(out["summary"]) == {"Z-OPS", "Z-CTRL", "site"}
    res = runner.invoke(cli, ["simulate", path, "--trials", "500", "--plan", "CM-2,CM-3"])
    assert res.exit_code == 0, res.output
    assert "plan ['CM-2', 'CM-3'] state" in res.output and "Z-CTRL" in res.output
    res = runner.invoke(cli, ["simulate", path, "--plan", "CM-9"])
    assert res.exit_code == 1 and "unknown countermeasure" in res.output
    # --workers 0 means one thread per CPU; any worker count prints the same numbers
    args = ["simulate", path, "--trials", str(BLOCK + 10), "--seed", "4", "--json"]
    ref = runner.invoke(cli, args)
    for w in ("2", "0"):
        res = runner.invoke(cli, [*args, "--workers", w])
        assert res.exit_code == 0, res.output
        assert res.output == ref.output
    res = runner.invoke(cli, [*args, "--workers", "-1"])
    assert res.exit_code == 2 and "-1" in res.output


def test_a_site_without_scenarios_has_the_summary_columns_at_every_level(make_site):
    site = cp_site(make_site, [])
    sim = simulate(site, trials=100, seed=1)
    full = sim.summary("site").columns
    for level in ("scenario", "zone", "site"):
        df = sim.summary(level)
        assert list(df.columns) == list(full)
        assert (df.drop(columns=["ale_se", "p_zero"]) == 0).all().all()
        assert (df["p_zero"] == 1).all()
    assert len(sim.summary("scenario")) == 0 and sim.summary("scenario")["ale"].sum() == 0


def test_old_engine_names_still_import_from_the_package():
    import riskkit.engine as engine_pkg
    from riskkit.engine import SEVERITY_CLASSES, _Chunk, _scenario_runs, _ScenarioRun
    from riskkit.engine.simulation import _Chunk as chunk_home
    from riskkit.rules import SEVERITY_CLASSES as rules_classes

    assert _Chunk is chunk_home and SEVERITY_CLASSES is rules_classes
    assert callable(_scenario_runs) and _ScenarioRun.__name__ == "_ScenarioRun"
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        engine_pkg.no_such_name  # noqa: B018
