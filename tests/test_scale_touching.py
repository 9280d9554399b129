"""Issue 16 (helper scale2): the batched touching and the indexed effects equal the per-scenario
rules, on generated sites and on the example sites (the refinery has attack paths)."""

from __future__ import annotations

import pytest

from riskkit.rules import (
    effect_index,
    indexed_effects,
    lateral,
    resolve_state,
    scenario_effects,
    touching,
    touching_all,
)
from riskkit.synthetic import synthetic_site


def _same_touching(site) -> None:
    batched = touching_all(site)
    assert list(batched) == [s.id for s in site.scenarios]
    for s in site.scenarios:
        assert batched[s.id] == touching(site, s), s.id


def _same_effects(site) -> None:
    index = effect_index(site)
    current = resolve_state(site, "current").active
    for s in site.scenarios:
        for active in (
            current,
            [c.id for c in site.countermeasures],
            *([c.id] for c in site.candidates),
        ):
            want = scenario_effects(site, s, active)
            got = indexed_effects(site, s, active, index)
            assert got.frequency == want.frequency, (s.id, active)
            assert got.consequence == want.consequence, (s.id, active)
            assert list(got.consequence) == list(want.consequence)


@pytest.mark.parametrize("n, m, seed", [(40, 12, 0), (120, 30, 3), (60, 80, 7)])
def test_touching_all_generated(n, m, seed):
    site = synthetic_site(n, m, seed=seed)
    _same_touching(site)
    _same_effects(site)
    # the generated sites do touch: an index that found nothing would pass trivially
    assert sum(map(len, touching_all(site).values())) > n


def test_touching_all_example_sites(water_site, refinery_site):
    assert any(lateral(s) for s in refinery_site.scenarios)  # attack paths take part
    for site in (water_site, refinery_site):
        _same_touching(site)
        _same_effects(site)


def test_site_only_run_equals_full_run(refinery_site):
    """simulate_many(site_only=True) keeps the same site numbers and refuses zone tables."""
    import numpy as np

    from riskkit.engine import simulate_many
    from riskkit.portfolio.api import _site_measures

    site = refinery_site
    spec = {"now": "current", **{c.id: [c.id] for c in site.candidates[:3]}}
    full = simulate_many(site, spec, trials=1000, seed=3)
    lean = simulate_many(site, spec, trials=1000, seed=3, site_only=True)
    for k in spec:
        a = full[k].losses("site").to_numpy()
        assert np.array_equal(a, lean[k].losses("site").to_numpy())
        row = full[k].summary("site").iloc[0]
        got = _site_measures(lean[k])
        assert got["ale"] > 0
        for col, v in got.items():
            assert v == row[col] or (np.isnan(v) and np.isnan(row[col])), col
    with pytest.raises(ValueError, match="site_only"):
        lean["now"].losses("zone")
    with pytest.raises(ValueError, match="site_only"):
        lean["now"].summary("scenario")


def test_prioritize_problem_shared_equals_fresh():
    """prioritize with a shared Problem gives the table it gives alone (generated site)."""
    from riskkit.portfolio import Problem, prioritize

    site = synthetic_site(50, 15, seed=2)
    alone = prioritize(site, trials=500, seed=1).summary
    shared = prioritize(site, trials=500, seed=1, problem=Problem(site)).summary
    assert alone.equals(shared)
