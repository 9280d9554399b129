"""riskkit.widgets.Explorer driven headless: controls, figures, table, exclusive groups, save.

Every number the explorer shows must be exactly what ``riskkit.simulate(riskkit.what_if(...),
trials, seed)`` gives (same trials, same seed), so the comparisons are exact (no tolerance),
except where a closed-form factor is checked on common random numbers (relative 1e-9).
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("ipywidgets")

import riskkit
from riskkit import SiteError, load_site, what_if
from riskkit.cli import cli
from riskkit.io import site_to_dict
from riskkit.portfolio import optimize
from riskkit.widgets import Explorer

TRIALS = 3000
SEED = 11


@pytest.fixture
def ex(water_site):
    return Explorer(water_site, trials=TRIALS, seed=SEED, background=False)


def _expected(site, **kw):
    return riskkit.simulate(what_if(site, **kw), TRIALS, SEED)


def _curve(fig, name):
    (trace,) = [t for t in fig.data if t.name == name]
    return np.asarray(trace.x, float), np.asarray(trace.y, float)


def _exceedance_xy(sim, level, col):
    ex = sim.exceedance(level, points=200)[col]
    x, p = ex.index.to_numpy(float), ex.to_numpy(float)
    keep = (x > 0) & (p > 0)
    return x[keep], p[keep]


def test_set_gives_exactly_the_simulation_of_the_what_if(ex, water_site):
    kw = dict(actor_rate={"A-CRIME": 2.0}, consequence={"W-01": 0.5}, tolerance=0.1)
    before = ex.summary
    ex.set(**kw)
    sim = _expected(water_site, **kw)
    base = riskkit.simulate(water_site, TRIALS, SEED)
    zones = [z.id for z in water_site.zones]
    s = ex.summary
    np.testing.assert_array_equal(s.loc[zones, "ale_what_if"], sim.summary("zone")["ale"])
    np.testing.assert_array_equal(s.loc[zones, "var99_what_if"], sim.summary("zone")["var99"])
    np.testing.assert_array_equal(s.loc[zones, "ale_current"], base.summary("zone")["ale"])
    assert s.loc["site", "ale_what_if"] == sim.summary("site")["ale"].iloc[0]
    assert s.loc["site", "ale_what_if"] > before.loc["site", "ale_what_if"]
    # the what-if site is the one what_if builds
    assert site_to_dict(ex.site) == site_to_dict(what_if(water_site, **kw))
    # and the figures plot its curves, the current one untouched
    x, p = _curve(ex.figures["site_curves"], "what-if")
    ex_x, ex_p = _exceedance_xy(sim, "site", "site")
    np.testing.assert_array_equal(x, ex_x)
    np.testing.assert_array_equal(p, ex_p)
    x0, p0 = _curve(ex.figures["site_curves"], "current")
    np.testing.assert_array_equal(p0, _exceedance_xy(base, "site", "site")[1])
    # the tolerance curve is the what-if's (ten times stricter)
    _, tp = _curve(ex.figures["site_curves"], "tolerance")
    np.testing.assert_allclose(tp, [0.01, 0.001])


def test_the_zone_selector_switches_the_zone_curve(ex, water_site):
    ex.set(zone="Z-PUMPS", actor_rate={"A-HACKTIVIST": 3.0})
    assert ex.controls["zone"].value == "Z-PUMPS"
    sim = _expected(water_site, actor_rate={"A-HACKTIVIST": 3.0})
    x, p = _curve(ex.figures["zone_curves"], "what-if")
    np.testing.assert_array_equal(p, _exceedance_xy(sim, "zone", "Z-PUMPS")[1])
    assert "Z-PUMPS" in ex.figures["zone_curves"].layout.title.text


def test_moving_a_slider_is_the_same_as_set(water_site):
    a = Explorer(water_site, trials=TRIALS, seed=SEED, background=False)
    b = Explorer(water_site, trials=TRIALS, seed=SEED, background=False)
    a.controls["actor:A-INSIDER"].value = 0.5
    a.controls["consequence"].value = 2.0
    b.set(actor_rate={"A-INSIDER": 0.5}, consequence=2.0)
    assert a.changes == b.changes == {"actor_rate": {"A-INSIDER": 0.5}, "consequence": 2.0}
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert b.controls["actor:A-INSIDER"].value == 0.5
    assert b.controls["actor:A-CRIME"].value == 1.0


def test_common_random_numbers_a_consequence_factor_scales_every_trial(ex):
    ex.set(consequence=2.0)
    s = ex.summary
    np.testing.assert_allclose(s["ale_what_if"], 2.0 * s["ale_current"], rtol=1e-9)
    np.testing.assert_allclose(s["var99_what_if"], 2.0 * s["var99_current"], rtol=1e-9)
    ex.reset()
    np.testing.assert_array_equal(ex.summary["ale_what_if"], ex.summary["ale_current"])
    assert ex.changes == {} and ex.controls["consequence"].value == 1.0


def test_trials_selector_resimulates(ex, water_site):
    ex.set(trials=2000)
    assert ex.controls["trials"].value == 2000
    sim = riskkit.simulate(water_site, 2000, SEED)
    np.testing.assert_array_equal(ex.summary["ale_what_if"].iloc[:-1], sim.summary("zone")["ale"])


def test_exclusive_groups_hold(ex, water_site):
    group = [c.id for c in water_site.candidates if c.exclusive_group == "telemetry"]
    a, b = (ex.controls[f"cm:{cid}"] for cid in group)
    a.value = True
    assert ex.changes["implement"] == [group[0]]
    b.value = True  # checking the other member unchecks the first
    assert (a.value, b.value) == (False, True)
    assert ex.changes["implement"] == [group[1]]
    sim = _expected(water_site, implement=[group[1]])
    np.testing.assert_array_equal(ex.summary["ale_what_if"].iloc[:-1], sim.summary("zone")["ale"])
    with pytest.raises(SiteError, match="exclusive group 'telemetry'"):
        ex.set(implement=group)
    assert ex.changes["implement"] == [group[1]]  # a refused change changes nothing
    assert (a.value, b.value) == (False, True)


def test_a_group_with_an_implemented_member_is_locked(base_site_dict, make_site):
    d = copy.deepcopy(base_site_dict)
    d["countermeasures"][0]["exclusive_group"] = "g"
    d["countermeasures"][0]["status"] = "implemented"
    d["countermeasures"][1]["exclusive_group"] = "g"
    site = make_site(d)
    ex = Explorer(site, trials=500, seed=1, background=False)
    assert ex.controls[f"cm:{d['countermeasures'][1]['id']}"].disabled


def test_bad_changes_are_refused_and_change_nothing(ex):
    ex.set(tolerance=0.5)
    with pytest.raises(SiteError):
        ex.set(actor_rate={"A-NOBODY": 2.0})
    with pytest.raises(TypeError, match="unknown keyword 'rate'"):
        ex.set(rate=2.0)
    with pytest.raises(KeyError, match="Z-NOWHERE"):
        ex.set(zone="Z-NOWHERE")
    assert ex.changes == {"tolerance": 0.5}


def test_heavy_results_in_the_background_radar_frontier_and_budget_plan(water_site):
    ex = Explorer(water_site, trials=TRIALS, seed=SEED, debounce=0.01)
    ex.wait()
    assert not ex.busy
    ex.set(zone="Z-SCADA", actor_rate={"A-CRIME": 4.0}, implement=["WM-03"], budget=40_000.0)
    ex.wait()
    assert ex.error is None
    radar = ex.figures["radar"]
    assert {t.name for t in radar.data} >= {"SL-A", "SL-T"}
    scen = what_if(water_site, actor_rate={"A-CRIME": 4.0})
    sl_t = riskkit.target_levels(ex.site).zones.loc["Z-SCADA"].tolist()
    (t_trace,) = [t for t in radar.data if t.name == "SL-T"]
    assert list(t_trace.r)[:7] == sl_t
    names = [t.name for t in ex.figures["frontier"].data]
    assert "what-if selection" in names and "optimal plans" in names
    assert ex.plan.members == optimize(scen, 40_000.0, simulate=False).members
    assert ex._busy_box.value == ""


def test_save_round_trips_and_never_overwrites(ex, water_site, tmp_path):
    ex.set(actor_rate={"A-CRIME": 2.0}, implement=["WM-03"], tolerance=0.1)
    out = ex.save(tmp_path / "what-if.yaml")
    back = load_site(out)
    assert site_to_dict(back) == site_to_dict(ex.site)
    pd.testing.assert_frame_equal(
        riskkit.simulate(back, TRIALS, SEED).summary("zone"),
        riskkit.simulate(ex.site, TRIALS, SEED).summary("zone"),
    )
    result = CliRunner().invoke(cli, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    with pytest.raises(FileExistsError):
        ex.save(out)
    assert out.read_text(encoding="utf-8") == text


def test_hostile_strings_are_escaped(base_site_dict, make_site):
    d = copy.deepcopy(base_site_dict)
    evil = '<img src=x onerror="alert(1)">'
    d["site"]["name"] = evil
    d["site"]["currency"] = "<b>EUR</b>"
    d["zones"][0]["name"] = evil
    ex = Explorer(make_site(d), trials=500, seed=1, background=False)
    html = [w.value for w in _walk(ex.view) if hasattr(w, "value") and isinstance(w.value, str)]
    html.append(ex._table.value)
    assert not any("<img" in h or "<b>EUR" in h for h in html)
    assert any("&lt;img" in h for h in html)
    layout = ex.figures["site_curves"].layout
    assert "<b>EUR" not in layout.xaxis.title.text


def _walk(w):
    yield w
    for child in getattr(w, "children", ()):
        yield from _walk(child)


# --------------------------------------------------------------------------------------------
# riskkit explore: what it runs (the server itself is tested in test_explore_browser.py)
# --------------------------------------------------------------------------------------------


def test_explore_refuses_a_broken_site_before_starting_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {name: x}\nzones: []\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["explore", str(bad), "--no-browser"])
    assert result.exit_code == 1
    assert "a site needs at least one zone" in result.output


def test_the_page_notebook_holds_the_path_as_a_string_literal(tmp_path):
    import ast
    import json

    from riskkit.app import explorer_notebook

    odd = tmp_path / 'it"s\n__import__("os").system("x")'
    nb = explorer_notebook(odd, trials=1234)
    json.dumps(nb)  # plain JSON
    (cell,) = nb["cells"]
    tree = ast.parse(cell["source"])
    call = tree.body[1].value
    assert isinstance(call, ast.Call) and call.func.id == "Explorer"
    assert ast.literal_eval(call.args[0]) == str(odd.resolve())
    assert ast.literal_eval(call.keywords[0].value) == 1234


def test_voila_listens_on_localhost_only_and_shows_no_code(tmp_path):
    from riskkit.app import TEMPLATES, voila_command, voila_env

    cmd = voila_command(tmp_path / "x.ipynb", 8123)
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8123" in cmd
    assert "--strip_sources=True" in cmd and "--no-browser" in cmd
    assert "--Voila.port_retries=0" in cmd  # the printed URL is the real one
    assert "--template=riskkit" in cmd
    assert (TEMPLATES / "voila" / "templates" / "riskkit" / "index.html.j2").exists()
    env = voila_env({"JUPYTER_PATH": "/elsewhere"})
    assert env["JUPYTER_PATH"].split(os.pathsep) == [str(TEMPLATES), "/elsewhere"]
