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
