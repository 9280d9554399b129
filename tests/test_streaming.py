"""Streamed statistics: a run keeps zone and site totals, and per-scenario statistics only.

The engine draws the scenarios in groups of whole columns and folds each group into the
totals (``riskkit.engine.results``): every statistic must equal, to the bit, the one computed
from the full trials x scenarios table that a run keeping every column holds. And the
confidence intervals of VaR and ES (issue 10, "Precision in reports") are checked against
closed forms and their coverage.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import riskkit.engine.simulation as sim_mod
from riskkit.engine import simulate, simulate_many
from riskkit.engine.limits import _check_memory
from riskkit.engine.results import CONFIDENCE, _column_stats, order_interval
from riskkit.engine.streams import BLOCK
from riskkit.synthetic import synthetic_site

LEVELS = ("scenario", "zone", "site")
TRIALS = 2 * BLOCK + 777  # several blocks, the last one partial


def _streamed(site, monkeypatch, trials=TRIALS, group_bytes=1, **kw):
    """A run that keeps no scenario column, drawing ``group_bytes``-sized groups (1: one by one)."""
    monkeypatch.setattr(sim_mod, "GROUP_BYTES", group_bytes)
    return simulate_many(site, ["unmitigated", "current"], trials=trials, seed=5, **kw)


def _in_memory(site, trials=TRIALS, **kw):
    return simulate_many(
        site, ["unmitigated", "current"], trials=trials, seed=5, keep_scenarios=True, **kw
    )


@pytest.mark.parametrize("name", ["water_site", "refinery_site"])
def test_streamed_statistics_equal_the_in_memory_ones_bit_for_bit(name, request, monkeypatch):
    site = request.getfixturevalue(name)
    full = _in_memory(site)
    streamed = _streamed(site, monkeypatch, keep_scenarios=False)
    for st in full:
        a, b = full[st], streamed[st]
        assert a.kept == a.scenarios and b.kept == []
        for level in LEVELS:
            for intervals in (False, True):
                pd.testing.assert_frame_equal(
                    a.summary(level, intervals), b.summary(level, intervals), check_exact=True
                )
            for cat in ("safety", "environment"):
                pd.testing.assert_frame_equal(
                    a.harm_frequency(cat, level), b.harm_frequency(cat, level), check_exact=True
                )
        for level in ("zone", "site"):
            np.testing.assert_array_equal(a.losses(level), b.losses(level))
            pd.testing.assert_frame_equal(
                a.exceedance(level, 40), b.exceedance(level, 40), check_exact=True
            )
    assert full["current"].losses("site").to_numpy().sum() > 0  # not two empty runs


def test_exact_statistics_are_those_of_the_full_table(water_site):
    # the scenario statistics are the numpy statistics of the scenario's column; zone and
    # site totals are the sums of their scenarios' columns in the site's order
    s = simulate(water_site, trials=TRIALS, seed=3, keep_scenarios=True)
    table = s.losses("scenario").to_numpy()
    summ = s.summary("scenario")
    n = s.trials
    for j, sid in enumerate(s.scenarios):
        x = table[:, j]
        assert summ.at[sid, "ale"] == x.mean()
        assert summ.at[sid, "ale_se"] == x.std(ddof=1) / math.sqrt(n)
        srt = np.sort(x)
        for q in (0.90, 0.95, 0.99):
            k = math.ceil(n * q) - 1
            assert summ.at[sid, f"var{round(q * 100)}"] == srt[k]
            es = (srt[k + 1 :].sum() + (k + 1 - n * q) * srt[k]) / (n * (1 - q))
            assert summ.at[sid, f"es{round(q * 100)}"] == pytest.approx(es, rel=1e-12)
        assert summ.at[sid, "p_zero"] == np.count_nonzero(x == 0) / n
    site_total = np.zeros(n)
    for j in range(table.shape[1]):
        site_total += table[:, j]
    np.testing.assert_array_equal(s.losses("site")["site"].to_numpy(), site_total)
    for z in s.zones:
        total = np.zeros(n)
        for sc in water_site.scenarios_in(z):
            total += table[:, s.scenarios.index(sc.id)]
        np.testing.assert_array_equal(s.losses("zone")[z].to_numpy(), total)


def test_streaming_does_not_depend_on_chunks_workers_or_groups(refinery_site, monkeypatch):
    trials = BLOCK + 777
    ref = _in_memory(refinery_site, trials)["current"]
    for group_bytes, chunk, workers in [(1, BLOCK, 2), (10**7, 3 * BLOCK, 1), (1 << 40, None, 2)]:
        monkeypatch.setattr(sim_mod, "GROUP_BYTES", group_bytes)
        s = simulate(
            refinery_site,
            trials=trials,
            seed=5,
            chunk_size=chunk,
            workers=workers,
            keep_scenarios=False,
        )
        for level in LEVELS:
            pd.testing.assert_frame_equal(
                ref.summary(level, True), s.summary(level, True), check_exact=True
            )


def test_kept_scenarios_are_the_columns_of_the_full_table(refinery_site, monkeypatch):
    full = _in_memory(refinery_site)["current"]
    some = ["S-25", "S-03", "S-04"]
    monkeypatch.setattr(sim_mod, "GROUP_BYTES", 1)
    part = simulate(refinery_site, trials=TRIALS, seed=5, keep_scenarios=some)
    order = [sid for sid in part.scenarios if sid in some]  # kept in the site's order
    assert part.kept == order
    got = part.losses("scenario")
    assert list(got.columns) == order
    np.testing.assert_array_equal(got.to_numpy(), full.losses("scenario")[order].to_numpy())
    for cat in ("safety", "environment"):
        h = part.harm_counts(cat, "scenario")
        pd.testing.assert_frame_equal(
            h, full.harm_counts(cat, "scenario")[list(h.columns)], check_exact=True
        )
    pd.testing.assert_frame_equal(
        part.exceedance("scenario", [1e4, 1e6]),
        full.exceedance("scenario", [1e4, 1e6])[order],
        check_exact=True,
    )
    with pytest.raises(ValueError, match="keep_scenarios"):
        part.harm_counts("safety", "zone")  # a zone total needs every scenario's column


def test_unkept_scenario_losses_are_refused_with_a_hint(water_site):
    s = simulate(water_site, trials=500, seed=1, keep_scenarios=False)
    for call in (
        lambda: s.losses("scenario"),
        lambda: s.exceedance("scenario"),
        lambda: s.harm_counts("safety"),
    ):
        with pytest.raises(ValueError, match=r"keep_scenarios=\[\.\.\.\]") as err:
            call()
        assert "500 trials" in str(err.value) and "W-01" in str(err.value)
    assert len(s.summary("scenario")) == len(water_site.scenarios)  # statistics are kept
    with pytest.raises(ValueError, match="'S-NOPE'"):
        simulate(water_site, trials=500, keep_scenarios=["W-01", "S-NOPE"])


def test_default_keeps_scenario_columns_only_while_they_are_small(water_site, monkeypatch):
    small = simulate(water_site, trials=1000, seed=1)
    assert small.kept == small.scenarios  # as before: losses('scenario') works
    monkeypatch.setattr(sim_mod, "KEEP_BYTES", 1000 * len(water_site.scenarios) * 16 - 1)
    big = simulate(water_site, trials=1000, seed=1)
    assert big.kept == []
    pd.testing.assert_frame_equal(
        small.summary("scenario"), big.summary("scenario"), check_exact=True
    )
    n_zones = len(water_site.zones)
    assert big.nbytes == 1000 * (n_zones + 1) * 8  # zone and site totals only


def test_memory_grows_with_zones_not_scenarios(monkeypatch):
    # 64 scenarios in 10 zones: the full loss and harm tables of this run would take
    # trials x 64 x 16 bytes; a streamed run holds trials x 11 x 8 plus one group
    site = synthetic_site(64, 10, seed=4)
    trials = 10_000
    full_tables = trials * len(site.scenarios) * 16
    monkeypatch.setattr(sim_mod, "GROUP_BYTES", trials * 16 * 4)  # groups of 4 scenarios
    tracemalloc.start()
    try:
        s = simulate(site, trials=trials, seed=2, keep_scenarios=False)
        s.summary("scenario")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s.nbytes == trials * (len(site.zones) + 1) * 8
    assert peak < full_tables / 2, (peak, full_tables)  # all columns kept: > full_tables


def test_memory_check_counts_zone_totals_and_kept_columns(water_site, monkeypatch):
    import riskkit.engine.limits as limits

    trials = 1_000_000
    n_s, n_z = len(water_site.scenarios), len(water_site.zones)
    streamed = trials * ((n_z + 1) * 8 + 16)
    monkeypatch.setattr(limits, "_available_memory", lambda: float(streamed))
    _check_memory(water_site, trials, 1, False, kept=0, group=1)  # fits exactly
    with pytest.raises(MemoryError, match=f"{n_s} kept of {n_s} scenarios"):
        _check_memory(water_site, trials, 1, False)  # every column kept does not


# --------------------------------------------------------------------------------------------
# Confidence intervals of VaR and ES
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, q", [(100, 0.9), (2000, 0.99), (2000, 0.95), (10**6, 0.99)])
def test_order_interval_is_the_binomial_one(n, q):
    from scipy.stats import binom

    lo, hi = order_interval(n, q, 0.95)
    assert lo == binom.ppf(0.025, n, q) - 1  # 0-based rank of X_(l)
    assert hi == min(binom.ppf(0.975, n, q), n - 1)  # X_(u) with u = u' + 1, 1-based
    # coverage P(l <= B <= u') where B ~ Bin(n, q): at least 95 %
    cover = binom.cdf(hi, n, q) - binom.cdf(lo, n, q)
    assert cover >= 0.95 or hi == n - 1


def test_es_standard_error_matches_the_exponential_closed_form():
    # Exp(1): (X - VaR)+ given X > VaR is Exp(1), so Var((X - v)+) = 2(1-q) - (1-q)^2 and
    # sd(ES_q) = sqrt((2 / (1 - q) - 1) / n)
    n = 400_000
    x = np.random.default_rng(11).exponential(size=n)
    row = _column_stats(x)
    z = 1.959963984540054
    for q in (0.90, 0.95, 0.99):
        key = f"es{round(q * 100)}"
        se = (row[f"{key}_hi"] - row[f"{key}_lo"]) / (2 * z)
        exact = math.sqrt((2 / (1 - q) - 1) / n)
        assert se == pytest.approx(exact, rel=0.1)
        es = -math.log(1 - q) + 1  # exact ES of Exp(1)
        assert abs(row[key] - es) < 4 * exact
        var = -math.log(1 - q)
        assert row[f"var{round(q * 100)}_lo"] <= var <= row[f"var{round(q * 100)}_hi"]


def test_intervals_cover_the_true_values_about_95_percent_of_runs():
    # 400 runs of 2,000 lognormal years: the coverage of each interval must be near 95 %
    # (4 binomial SE = 4.4 points, plus 2 points of small-sample bias: VaR's order-statistic
    # interval is conservative, 97 %; ES99 rests on 20 tail years and covers about 91 %)
    mu, sigma, n, runs = 0.0, 1.0, 2000, 400
    rng = np.random.default_rng(2026)
    hits = {k: 0 for k in ("var95", "var99", "es95", "es99")}
    from statistics import NormalDist

    for _ in range(runs):
        row = _column_stats(rng.lognormal(mu, sigma, n))
        for q in (0.95, 0.99):
            zq = NormalDist().inv_cdf(q)
            var = math.exp(mu + sigma * zq)
            es = math.exp(mu + sigma**2 / 2) * NormalDist().cdf(sigma - zq) / (1 - q)
            k = round(q * 100)
            hits[f"var{k}"] += row[f"var{k}_lo"] <= var <= row[f"var{k}_hi"]
            hits[f"es{k}"] += row[f"es{k}_lo"] <= es <= row[f"es{k}_hi"]
    tol = 4 * math.sqrt(CONFIDENCE * (1 - CONFIDENCE) / runs)
    for k, h in hits.items():
        assert abs(h / runs - CONFIDENCE) <= tol + 0.02, (k, h / runs)


def test_summary_intervals_bracket_the_estimates_and_keep_the_old_columns(water_site):
    s = simulate(water_site, trials=5000, seed=8)
    old = s.summary("scenario")
    new = s.summary("scenario", intervals=True)
    pd.testing.assert_frame_equal(new[list(old.columns)], old, check_exact=True)
    for m in ("var", "es"):
        for q in (90, 95, 99):
            c = f"{m}{q}"
            assert (new[f"{c}_lo"] <= new[c]).all() and (new[c] <= new[f"{c}_hi"]).all()
    site = s.summary("site", intervals=True).iloc[0]
    assert site["var99_lo"] < site["var99_hi"] and site["es99_lo"] < site["es99_hi"]


# --------------------------------------------------------------------------------------------
# Precision in the outputs: intervals on the command line, trials behind figures and tables
# --------------------------------------------------------------------------------------------


def test_cli_simulate_shows_intervals_unless_told_not_to(repo_root):
    import json

    from click.testing import CliRunner

    from riskkit.cli import cli

    site = str(repo_root / "data" / "sites" / "example-water")
    args = ["simulate", site, "--trials", "2000", "--seed", "3"]
    plain = CliRunner().invoke(cli, [*args, "--no-intervals"])
    assert plain.exit_code == 0, plain.output
    assert "95% CI" not in plain.output
    text = CliRunner().invoke(cli, args)  # on by default (issue 10: precision in reports)
    assert text.exit_code == 0, text.output
    assert "VaR99 95% CI" in text.output and "2,000 simulated years" in text.output
    data = json.loads(CliRunner().invoke(cli, [*args, "--intervals", "--json"]).stdout)
    row = data["summary"]["site"]
    assert row["var99_lo"] <= row["var99"] <= row["var99_hi"]
    assert row["es99_lo"] <= row["es99"] <= row["es99_hi"]
    old = json.loads(CliRunner().invoke(cli, [*args, "--no-intervals", "--json"]).stdout)
    old = old["summary"]["site"]
    assert "var99_lo" not in old and all(old[k] == row[k] for k in old)


def test_figures_name_the_simulated_years_behind_them(water_site):
    from riskkit import figures

    s = simulate(water_site, trials=1234, seed=1)
    curves = {"current": s.exceedance("site", 20)["site"]}
    assert "simulated years" not in figures.exceedance_curves(curves).layout.title.text
    for fig in (
        figures.exceedance_curves(curves, trials=s.trials),
        figures.ale_by_zone(s.summary()[["ale"]], s.summary()[["ale_se"]], trials=s.trials),
        figures.severity_frequencies(s.summary("site"), trials=s.trials),
    ):
        assert "1,234 simulated years" in fig.layout.title.text


def test_risk_table_states_its_trials_and_carries_intervals_by_default(tiny_site):
    from riskkit import report

    A = report.Assessment(tiny_site, trials=300, seed=4, budget=10_000)
    plain = report.risk_table(A, "zone", ["current"], intervals=False)
    assert "var99_lo" not in plain.data.columns
    assert "300 simulated years, seed 4" in plain.to_html()
    wide = report.risk_table(A, "site", ["unmitigated", "current"])
    got = wide.data.loc[("current", "site")]
    want = A.simulation("current").summary("site", intervals=True).loc["site"]
    for c in ("var99", "var99_lo", "var99_hi", "es99_lo", "es99_hi"):
        assert got[c] == want[c]
    assert "95 % CI" in wide.to_html()  # the columns have human labels


def test_streamed_run_on_a_dask_cluster_equals_the_local_one(water_site, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setattr(sim_mod, "GROUP_BYTES", 1)  # one scenario per group: many rounds
    kw = dict(trials=BLOCK + 321, seed=9, chunk_size=BLOCK, keep_scenarios=["W-02", "W-03"])
    local = simulate(water_site, **kw)
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    )
    try:
        with distributed.Client(cluster) as client:
            remote = simulate(water_site, client=client, **kw)
    finally:
        cluster.close()
    for level in LEVELS:
        pd.testing.assert_frame_equal(
            local.summary(level, True), remote.summary(level, True), check_exact=True
        )
    np.testing.assert_array_equal(local.losses("scenario"), remote.losses("scenario"))
    np.testing.assert_array_equal(local.losses("zone"), remote.losses("zone"))
