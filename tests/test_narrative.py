"""The management summary's sentences and numbers, checked against the library (issue 9).

Each expected value is computed here from riskkit.simulate, riskkit.expected_losses and
riskkit.optimize with the run's trials and seed, never through the view's own helpers; the
sentence is then read back from the Markdown and compared.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from riskkit import escape, expected_losses, optimize, report, simulate
from riskkit.figures import money

TRIALS, SEED, BUDGET = 1000, 5, 60_000


@pytest.fixture(scope="module")
def A(tiny_site):
    return report.Assessment(tiny_site, trials=TRIALS, seed=SEED, budget=BUDGET)


@pytest.fixture(scope="module")
def lib(tiny_site):
    """The same results, straight from the library."""
    plan = optimize(tiny_site, BUDGET, trials=TRIALS, seed=SEED)
    sims = {
        "unmitigated": simulate(tiny_site, trials=TRIALS, seed=SEED, state="unmitigated"),
        "current": simulate(tiny_site, trials=TRIALS, seed=SEED, state="current"),
        "plan": simulate(tiny_site, trials=TRIALS, seed=SEED, state="plan", plan=plan.members),
    }
    site = {k: s.summary("site").iloc[0] for k, s in sims.items()}
    ex = {
        "current": expected_losses(tiny_site, "current"),
        "plan": expected_losses(tiny_site, "plan", plan=plan.members),
    }
    return {"plan": plan, "site": site, "ex": ex}


def _line(text: str, start: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith(start)]
    assert len(lines) == 1, (start, text)
    return lines[0]


def test_headline_today_sentence(A, lib):
    line = _line(report.headline_markdown(A), "- **Today**")
    now, un = lib["site"]["current"], lib["site"]["unmitigated"]
    # expected values are exact (closed form), the tail is simulated
    exact_now = lib["ex"]["current"]["ale"].sum()
    exact_un = expected_losses(A.site, "unmitigated")["ale"].sum()
    assert f"**{money(exact_now, 'EUR')} per year**" in line
    assert f"exceeds **{money(now['var99'], 'EUR')}**" in line
    assert f"it would be {money(exact_un, 'EUR')} per year." in line
    assert np.isfinite(un["ale"])
    assert "Tiny test site" in line


def test_headline_each_unit_spent_removes(A, lib):
    P = lib["plan"]
    assert P.members, "the budget must buy a plan for this test"
    line = _line(report.headline_markdown(A), "- **The recommended plan**")
    reduction = lib["ex"]["current"]["ale"].sum() - lib["ex"]["plan"]["ale"].sum()
    per = reduction / P.annualised_cost
    m = re.search(r"each unit spent removes ([0-9.]+) units of expected loss", line)
    assert m and float(m.group(1)) == pytest.approx(per, abs=0.05)
    members = ", ".join(escape.markdown(m) for m in P.members)  # ids are Markdown-escaped
    assert f"({len(P.members)} measures: {members})" in line
    assert f"costs **{money(P.annualised_cost, 'EUR')} per year**" in line
    assert f"a reduction of {money(reduction, 'EUR')}:" in line
    assert f"falls to {money(lib['site']['plan']['var99'], 'EUR')}." in line


def test_headline_once_in_n_years(A, lib):
    """Safety class >= 3 from the closed form; the tiny site has no environmental class 3."""
    line = _line(report.headline_markdown(A), "- **Harm**")
    rates = {}
    for state, ex in lib["ex"].items():
        rates[state] = ex.loc[ex["safety_severity"] >= 3, "safety_rate"].sum()
    assert rates["current"] > 0
    years = re.findall(r"once in ([0-9,]+) years", line)
    expected = [f"{1 / rates['current']:,.0f}"]
    expected += [f"{1 / rates['plan']:,.0f}"] if rates["plan"] > 0 else []
    assert years == expected
    assert line.startswith("- **Harm**: safety incidents of severity 3 or worse")
    assert "environmental" not in line
    assert ("none with the plan" in line) == (rates["plan"] == 0)


def test_headline_security_levels_sentence(A):
    line = _line(report.headline_markdown(A), "- **Security levels**")
    from riskkit import gaps, target_levels

    T = target_levels(A.site, sim=simulate(A.site, trials=TRIALS, seed=SEED, state="unmitigated"))
    meets = {}
    for st, plan in (("current", None), ("plan", A.plan.members)):
        g = gaps(A.site, T, state=st, plan=plan).summary
        meets[st] = int(g[g["kind"] == "zone"]["meets"].sum())
    n = len(A.site.zones)
    assert f"{meets['current']} of {n} zones reach" in line
    assert f"{meets['plan']} of {n} with the plan" in line


def test_headline_without_plan_and_without_budget(tiny_site):
    B = report.Assessment(tiny_site, trials=TRIALS, seed=SEED, budget=0)
    text = report.headline_markdown(B)
    assert "**No investment is recommended**" in text
    assert "No budget was set" not in text


def test_plan_markdown_numbers(A, lib):
    text = report.plan_markdown(A)
    P = lib["plan"]
    closed_now = lib["ex"]["current"]["ale"].sum()
    closed_plan = lib["ex"]["plan"]["ale"].sum()
    m = re.search(r"closed form\): ([0-9,]+) -> ([0-9,]+) EUR/yr; ROSI (-?[0-9]+\.[0-9]+)", text)
    assert m
    got = [float(m.group(i).replace(",", "")) for i in (1, 2)]
    assert got == pytest.approx([closed_now, closed_plan], abs=1)
    rosi = (closed_now - closed_plan - P.annualised_cost) / P.annualised_cost
    assert float(m.group(3)) == pytest.approx(rosi, abs=0.01)
    assert f"- Budget: {BUDGET:,.0f} EUR/yr (annualised; given)." in text
    assert f"- Cost: {P.annualised_cost:,.0f} EUR/yr annualised" in text
    now, pl = lib["site"]["current"], lib["site"]["plan"]
    assert f"ALE {now['ale']:,.0f} -> {pl['ale']:,.0f} EUR/yr" in text
    assert f"VaR 99 % {now['var99']:,.0f} -> {pl['var99']:,.0f} EUR." in text
    assert f"Simulated ({TRIALS:,} years, seed {SEED})" in text


def test_tolerance_markdown_sentences():
    tol = pd.DataFrame(
        {
            "state": ["current", "current", "current", "plan", "plan"],
            "tolerance": ["safety >= 3", "per-zone ALE Z-1", "safety >= 1", "safety >= 3", "x"],
            "within": [False, True, False, True, True],
        }
    )
    assert report.tolerance_markdown(tol).splitlines() == [
        "- **current**: 2 of 3 checks exceed tolerance (safety).",
        "- **plan**: within every tolerance (2 checks).",
    ]
    assert report.tolerance_markdown(tol.iloc[:0]) == "The site states no tolerance."


def test_tolerance_markdown_counts_match_the_check(A):
    tol = A.tolerance_check()
    for line in report.tolerance_markdown(tol).splitlines():
        st = re.match(r"- \*\*(\w+)\*\*", line).group(1)
        g = tol[tol["state"] == st]
        bad = int((~g["within"]).sum())
        if bad:
            assert f"{bad} of {len(g)} checks exceed" in line
        else:
            assert f"within every tolerance ({len(g)} checks)" in line


def _cells(df: pd.DataFrame) -> dict[str, str]:
    """The text of the first row of each column of ``styled(df)``."""
    html = report.styled(df, hide_index=True).to_html()
    cells = re.findall(r'<td id="T_\w+_row0_col(\d+)"[^>]*>([^<]*)</td>', html)
    return {df.columns[int(i)]: text.strip() for i, text in cells}


@pytest.mark.parametrize(
    "column, value, shown",
    [
        ("ale", 1234567.891, "1,234,568"),
        ("var99", 98765.4, "98,765"),
        ("es99", 1500.5, "1,500"),
        ("capex", 80000.0, "80,000"),
        ("annualised_cost", 12345.6, "12,346"),
        ("delta_ale", 5555.5, "5,556"),
        ("expected loss today", 2500.4, "2,500"),
        ("budget", 60000.0, "60,000"),
        ("value", 150000.0, "150,000"),  # a tolerance value: money where large
        ("value", 0.0125, "0.0125"),  # ... a frequency where small
        ("rosi", 2.34567, "2.35"),
        ("reduction_per_cost", 4.5678, "4.57"),
        ("p_zero", 0.123456, "0.123"),
        ("share", 0.45678, "0.457"),
        ("rrf", 1234.5, "1,234"),  # never an exponent
        ("rrf", 0.00012, "0.00012"),
        ("gap", 2.0, "2"),
    ],
)
def test_styled_money_columns(column, value, shown):
    assert _cells(pd.DataFrame({column: [value]}))[column] == shown


def test_styled_leaves_integers_and_text_alone():
    df = pd.DataFrame({"n_members": [3], "members": ["CM-1, CM-2"], "meets": [True]})
    assert _cells(df) == {"n_members": "3", "members": "CM-1, CM-2", "meets": "✓"}
    assert _cells(pd.DataFrame({"meets": [False]})) == {"meets": "✗"}


def test_changes_markdown_numbers(A, lib, tmp_path):
    import json

    prev = json.loads(json.dumps(A.summary(), default=str))
    prev["site"]["ale"]["current"] = 1000.0
    (tmp_path / "summary.json").write_text(json.dumps(prev))
    text = report.changes_markdown(A, tmp_path)
    now = lib["site"]["current"]["ale"]
    assert f"{money(1000.0, 'EUR')} then, {money(now, 'EUR')} now" in text
    assert f"(+{money(now - 1000.0, 'EUR')})" in text
    assert "(same input file)" in text
    assert np.isfinite(now)
