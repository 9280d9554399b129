"""The what-if explorer: ipywidgets controls over :func:`riskkit.what_if`, live plotly figures.

>>> from riskkit.widgets import Explorer          # doctest: +SKIP
>>> Explorer("data/sites/example-water").view     # doctest: +SKIP

Every control is a keyword of :func:`riskkit.what_if`; each change builds the what-if site,
simulates it on the same random numbers as the site itself (same trials, same seed: common
random numbers, so a curve moves only because of the change) and redraws the loss exceedance
curves and the table at once. The heavier results (SL-T and the radar, the efficient frontier,
the optimal plan for the budget) are debounced and computed in a background thread while a
busy indicator shows; the controls stay usable meanwhile, and a result that a newer change has
made stale is dropped.

The figures are those of :mod:`riskkit.figures` (the reports' figures); updates replace the
traces' data in place and redraw them (see :class:`_Plot` for why they are not plotly
``FigureWidget``).

Needs the ``widgets`` extra (``pip install 'riskkit[widgets]'``).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml

from . import escape, figures
from .engine import simulate
from .exposure import expected_losses
from .io import load_site, site_to_dict
from .levels import gaps, target_levels
from .portfolio import frontier, optimize
from .rules import annualised_cost
from .site import Site, SiteError
from .whatif import WHAT_IF_KEYWORDS, what_if

__all__ = ["Explorer", "TRIAL_CHOICES"]

TRIAL_CHOICES: tuple[int, ...] = (2_000, 5_000, 20_000, 50_000, 100_000)
"""Trials offered by the trials selector [trials] (the ``trials`` given is added)."""

_EXTRA_KEYWORDS = ("zone", "trials", "budget")
_WHAT_IF_COLOR = figures.STATE_COLORS["plan"]
_SLIDER = dict(base=10, min=-1.0, max=1.0, step=0.02, readout_format=".3g")


def _log_slider(description: str, tooltip: str = "") -> W.FloatLogSlider:
    return W.FloatLogSlider(
        value=1.0,
        description=description,
        tooltip=tooltip,
        continuous_update=False,
        style={"description_width": "9em"},
        layout=W.Layout(width="340px"),
        **_SLIDER,
    )


def _curve(sim, level: str, column: str) -> pd.Series:
    ex = sim.exceedance(level, points=200)
    return ex[column]


def _xy(curve: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    x, p = curve.index.to_numpy(float), curve.to_numpy(float)
    keep = (x > 0) & (p > 0)  # log axes, as in figures.exceedance_curves
    return x[keep], p[keep]


def _selection_trace(cost: float, ale: float, currency: str) -> go.Scatter:
    # belongs in riskkit.figures (frontier_figure has no "current selection" marker yet)
    return go.Scatter(
        x=[cost],
        y=[ale],
        mode="markers",
        name="what-if selection",
        marker=dict(size=14, symbol="diamond", color=_WHAT_IF_COLOR, line=dict(width=1)),
        hovertemplate=f"selection: cost %{{x:,.4s}} {escape.plot(currency)}/yr,"
        " ALE %{y:,.4s}<extra></extra>",
    )


class _Plot:
    """A plotly figure shown in an ``Output`` widget, redrawn by :meth:`draw`.

    Not a ``FigureWidget``: plotly's FigureWidget (an anywidget) ships the whole plotly.js
    bundle (about 5 MB) in the state of every figure, and anywidget gives a model 2 s to
    initialise; on a loaded 2-core machine, three of the explorer's four figures missed that
    in Voila and stayed blank. A figure sent as plotly's mimetype is drawn by the one
    ``jupyterlab-plotly`` renderer of the page, whatever the number of figures.
    """

    def __init__(self, figure: go.Figure):
        self.figure = figure
        self.widget = W.Output(layout=W.Layout(overflow="visible"))
        self.draw()

    def draw(self) -> None:
        data = json.loads(self.figure.to_json())
        bundle = {"application/vnd.plotly.v1+json": data, "text/plain": "<plotly figure>"}
        # set outputs directly: safe from the background thread, no capture context needed
        self.widget.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)


class Explorer:
    """What-if explorer of a site: controls, live figures, and programmatic access.

    Parameters
    ----------
    site_or_path : Site or path-like
        A validated site, or a site file / folder / workbook to load.
    trials : int, default 20000
        Simulated years per update [trials] (the trials selector changes it).
    seed : int, optional
        Seed of every random stream; default the site's ``model.seed``. The site and every
        what-if are simulated with it: common random numbers.
    background : bool, default True
        Compute the heavy results (SL-T, frontier, optimal plan) in a debounced background
        thread; False computes them at once in the calling thread (for scripts and tests).
    debounce : float, default 0.4
        Quiet time before the heavy results are recomputed [s].

    Attributes
    ----------
    view : ipywidgets.Widget
        The widget to display.
    site : Site
        The current what-if site.
    summary : pandas.DataFrame
        The current per-zone table (see :attr:`summary`).
    changes : dict
        The current :func:`riskkit.what_if` keywords.
    controls : dict
        The control widgets by name (``zone``, ``trials``, ``consequence``, ``tolerance``,
        ``budget``, ``actor:<id>``, ``cm:<id>``).
    figures : dict of str to plotly.graph_objects.Figure
        ``site_curves``, ``zone_curves``, ``radar``, ``frontier``: the figures of
        :mod:`riskkit.figures` as drawn now (each shown in an ``Output`` widget of
        :attr:`view` and redrawn when it changes).
    """

    def __init__(
        self,
        site_or_path: Site | str | os.PathLike,
        trials: int = 20_000,
        seed: int | None = None,
        *,
        background: bool = True,
        debounce: float = 0.4,
    ):
        self.base = site_or_path if isinstance(site_or_path, Site) else load_site(site_or_path)
        self.seed = self.base.model.seed if seed is None else int(seed)
        self.trials = int(trials)
        self.background = background
        self.debounce = float(debounce)
        self.changes: dict[str, Any] = {}
        self.zone = self.base.zones[0].id
        self.budget: float | None = None
        self.plan = None  # the optimal plan for the budget (portfolio.Plan), when computed
        self.frontier = None
        self.targets = None
        self.error: BaseException | None = None
        self._syncing = False
        self._base_sims: dict[int, Any] = {}
        self._heavy_lock = threading.Lock()
        self._cond = threading.Condition()
        self._gen = 0
        self._done = 0
        self._timer: threading.Timer | None = None
        self._frontier_key = None
        self.site = self.base
        self._sim = self._base_sim()
        self._build_controls()
        self._build_outputs()
        self.view = self._layout()
        self._update()

    # ------------------------------------------------------------------------------------
    # programmatic access
    # ------------------------------------------------------------------------------------

    def set(self, **changes: Any) -> Explorer:
        """Change the what-if, move the controls to match and update everything.

        Parameters
        ----------
        **changes
            Any keyword of :func:`riskkit.what_if` (``actor_rate``, ``scenario_rate``,
            ``consequence``, ``tolerance``, ``implement``, ``remove``,
            ``sl_reduction_per_level``); each given keyword replaces its current value
            (``actor_rate={"A": 2}`` sets A to x2 and every other actor back to x1; None
            resets a keyword). Also ``zone`` (id), ``trials`` and ``budget``
            [currency/yr].

        Returns
        -------
        Explorer
            Itself, so calls chain.

        Raises
        ------
        SiteError
            From :func:`riskkit.what_if`; nothing changes then.
        TypeError
            For an unknown keyword.
        """
        bad = [k for k in changes if k not in WHAT_IF_KEYWORDS + _EXTRA_KEYWORDS]
        if bad:
            known = ", ".join(WHAT_IF_KEYWORDS + _EXTRA_KEYWORDS)
            raise TypeError(f"Explorer.set got unknown keyword {bad[0]!r}; known: {known}")
        new = dict(self.changes)
        for k in WHAT_IF_KEYWORDS:
            if k in changes:
                value = changes[k]
                if value is None or (k in ("implement", "remove") and not value):
                    new.pop(k, None)
                else:
                    new[k] = list(value) if k in ("implement", "remove") else value
        what_if(self.base, **new)  # validate first: a bad change leaves everything as it was
        if "zone" in changes:
            self.base.zone(changes["zone"])  # KeyError naming the known zones
        self.changes = new
        self._syncing = True
        try:
            self._sync_controls(changes)
        finally:
            self._syncing = False
        self._update()
        return self

    def reset(self) -> Explorer:
        """Back to the site as it is (every control at x1, no countermeasure changed)."""
        return self.set(**{k: None for k in WHAT_IF_KEYWORDS})

    @property
    def summary(self) -> pd.DataFrame:
        """Per zone, the current site against the what-if, plus a ``site`` row.

        Columns ``ale_current``, ``ale_what_if`` [currency/yr], ``var99_current``,
        ``var99_what_if`` [currency] (from :meth:`riskkit.Simulation.summary` of the site and
        of the what-if site, same trials and seed) and ``ale_change`` [currency/yr].
        """
        return self._summary.copy()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the what-if as a site file that ``riskkit validate`` and ``assess`` accept.

        Parameters
        ----------
        path : path-like
            A new ``.yaml`` file; an existing file is never overwritten.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileExistsError
            Where ``path`` exists.
        """
        p = Path(path)
        if p.suffix.lower() not in (".yaml", ".yml"):
            raise ValueError(f"a what-if is saved as a .yaml file, {str(p)!r} was given")
        text = yaml.safe_dump(site_to_dict(self.site), sort_keys=False, allow_unicode=True)
        changes = yaml.safe_dump(self.changes, default_flow_style=True, width=10_000).strip()
        head = "# riskkit what-if of {}\n# changes: {}\n".format(
            (self.base.source or "a site").replace("\n", " "),
            changes.replace("\n", " "),
        )
        with open(p, "x", encoding="utf-8") as f:  # "x": never overwrites
            f.write(head + text)
        return p

    def wait(self, timeout: float = 120.0) -> Explorer:
        """Block until the heavy results of the latest change are drawn [s]."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._done < self._gen:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the explorer was still busy after {timeout:g} s")
                self._cond.wait(left)
        return self

    @property
    def busy(self) -> bool:
        """True while heavy results are pending or being computed."""
        return self._done < self._gen

    # ------------------------------------------------------------------------------------
    # controls
    # ------------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        b = self.base
        c: dict[str, W.Widget] = {}
        c["zone"] = W.Dropdown(
            options=[(f"{z.id}  {z.name or ''}".strip(), z.id) for z in b.zones],
            value=self.zone,
            description="zone",
            layout=W.Layout(width="340px"),
        )
        trials = sorted(set(TRIAL_CHOICES) | {self.trials})
        c["trials"] = W.Dropdown(
            options=[(f"{t:,}", t) for t in trials], value=self.trials, description="trials"
        )
        for a in b.threat_actors:
            c[f"actor:{a.id}"] = _log_slider(f"{a.id} rate x", a.name or a.id)
        c["consequence"] = _log_slider("consequence x", "every money consequence")
        c["tolerance"] = _log_slider("tolerance x", "0.1 = ten times stricter")
        locked = {cm.exclusive_group for cm in b.implemented if cm.exclusive_group is not None}
        for cm in b.candidates:
            group = f" [{cm.exclusive_group}]" if cm.exclusive_group else ""
            c[f"cm:{cm.id}"] = W.Checkbox(
                value=False,
                description=f"{cm.id} {cm.name or ''}{group}"[:70],
                indent=False,
                disabled=cm.exclusive_group in locked,
                layout=W.Layout(width="340px"),
            )
        top = sum(annualised_cost(b, cm.id) for cm in b.candidates)
        c["budget"] = W.FloatSlider(
            value=0.0,
            min=0.0,
            max=max(top, 1.0),
            step=max(top, 1.0) / 200,
            description=f"budget [{b.currency}/yr]"[:40],
            continuous_update=False,
            readout_format=",.0f",
            style={"description_width": "9em"},
            layout=W.Layout(width="340px"),
        )
        self.controls = c
        for name, w in c.items():
            w.observe(self._on_control(name), names="value")

    def _on_control(self, name: str):
        def handler(change):
            if self._syncing:
                return
            try:
                self._control_changed(name, change["new"])
            except Exception as e:  # shown, never raised into the widget machinery
                self._show_error(e)

        return handler

    def _control_changed(self, name: str, value: Any) -> None:
        c = self.controls
        if name == "zone":
            self.zone = value
        elif name == "trials":
            self.trials = int(value)
        elif name == "budget":
            self.budget = float(value) or None
            self._schedule_heavy()
            return
        elif name.startswith("actor:"):
            rates = {
                k.split(":", 1)[1]: float(w.value)
                for k, w in c.items()
                if k.startswith("actor:") and not math.isclose(w.value, 1.0)
            }
            self._put("actor_rate", rates or None)
        elif name in ("consequence", "tolerance"):
            self._put(name, None if math.isclose(value, 1.0) else float(value))
        elif name.startswith("cm:"):
            cid = name.split(":", 1)[1]
            if value:  # exclusive groups: checking one unchecks the others of its group
                group = self.base.countermeasure(cid).exclusive_group
                if group is not None:
                    self._syncing = True
                    try:
                        for cm in self.base.candidates:
                            if cm.exclusive_group == group and cm.id != cid:
                                c[f"cm:{cm.id}"].value = False
                    finally:
                        self._syncing = False
            chosen = [k.split(":", 1)[1] for k, w in c.items() if k.startswith("cm:") and w.value]
            self._put("implement", chosen or None)
        self._update()

    def _put(self, key: str, value: Any) -> None:
        if value is None:
            self.changes.pop(key, None)
        else:
            self.changes[key] = value

    def _sync_controls(self, changes: Mapping[str, Any]) -> None:
        c = self.controls
        ch = self.changes
        if "zone" in changes:
            self.zone = c["zone"].value = changes["zone"]
        if "trials" in changes:
            t = int(changes["trials"])
            if t not in c["trials"].options and t not in [v for _, v in c["trials"].options]:
                c["trials"].options = [*c["trials"].options, (f"{t:,}", t)]
            self.trials = c["trials"].value = t
        if "budget" in changes:
            self.budget = None if changes["budget"] is None else float(changes["budget"])
            c["budget"].value = self.budget or 0.0
        rates = ch.get("actor_rate") or {}
        for a in self.base.threat_actors:
            c[f"actor:{a.id}"].value = float(rates.get(a.id, 1.0))
        cons = ch.get("consequence")
        c["consequence"].value = float(cons) if isinstance(cons, (int, float)) else 1.0
        c["tolerance"].value = float(ch.get("tolerance") or 1.0)
        chosen = set(ch.get("implement") or ())
        removed = set(ch.get("remove") or ())
        for cm in self.base.candidates:
            box = c[f"cm:{cm.id}"]
            box.value = cm.id in chosen
            if cm.id in removed:
                box.disabled = True

    # ------------------------------------------------------------------------------------
    # outputs
    # ------------------------------------------------------------------------------------

    def _build_outputs(self) -> None:
        cur = self.base.currency
        tol = self.base.tolerance.financial.exceedance
        site_fig = figures.exceedance_curves(
            {
                "current": _curve(self._sim, "site", "site"),
                "what-if": _curve(self._sim, "site", "site"),
            },
            tolerance=tol,
            currency=escape.plot(cur),
            title="Site: loss exceedance, current against the what-if",
        )
        zone_fig = figures.exceedance_curves(
            {
                "current": _curve(self._sim, "zone", self.zone),
                "what-if": _curve(self._sim, "zone", self.zone),
            },
            currency=escape.plot(cur),
            title=f"Zone {escape.plot(self.zone)}: loss exceedance",
        )
        for fig in (site_fig, zone_fig):
            fig.data[1].line.color = _WHAT_IF_COLOR
            fig.data[1].line.dash = "dot"  # the current curve shows through where they agree
            fig.update_layout(height=380, width=530, margin=dict(l=60, r=20, t=50, b=40))
        radar = go.Figure()
        radar.update_layout(title="SL-T, SL-A and SL-C (computing)", height=380, width=460)
        front = go.Figure()
        front.update_layout(title="Efficient frontier (computing)", height=450, width=1000)
        self._plots = {
            "site_curves": _Plot(site_fig),
            "zone_curves": _Plot(zone_fig),
            "radar": _Plot(radar),
            "frontier": _Plot(front),
        }
        self.figures = {k: p.figure for k, p in self._plots.items()}
        self._table = W.HTML(layout=W.Layout(min_width="640px"))
        self._status = W.HTML()
        self._plan_text = W.HTML()
        self._busy_box = W.HTML()

    def _layout(self) -> W.Widget:
        c = self.controls
        actors = [w for k, w in c.items() if k.startswith("actor:")]
        boxes = [w for k, w in c.items() if k.startswith("cm:")]
        left = W.VBox(
            [
                W.HTML("<b>What if ...</b>"),
                c["zone"],
                c["trials"],
                W.HTML("<b>attempt rates</b>"),
                *actors,
                W.HTML("<b>consequences and tolerance</b>"),
                c["consequence"],
                c["tolerance"],
                W.HTML("<b>countermeasures implemented</b>"),
                *boxes,
                W.HTML("<b>budget</b>"),
                c["budget"],
                self._plan_text,
                self._busy_box,
                self._status,
            ],
            layout=W.Layout(width="360px", flex="0 0 360px"),
        )
        f = {k: p.widget for k, p in self._plots.items()}
        right = W.VBox(
            [
                W.HBox([f["site_curves"], f["zone_curves"]]),
                W.HBox([self._table, f["radar"]]),
                f["frontier"],
            ],
            layout=W.Layout(flex="1 1 auto"),
        )
        name = escape.html(self.base.name)
        head = W.HTML(f"<h3>riskkit what-if explorer: {name}</h3>")
        return W.VBox([head, W.HBox([left, right])], layout=W.Layout(width="100%"))

    # ------------------------------------------------------------------------------------
    # updates
    # ------------------------------------------------------------------------------------

    def _base_sim(self):
        sim = self._base_sims.get(self.trials)
        if sim is None:
            sim = self._base_sims[self.trials] = simulate(self.base, self.trials, self.seed)
        return sim

    def _update(self) -> None:
        """The fast path: what-if site, its simulation, curves and table; then the heavy."""
        try:
            self.site = what_if(self.base, **self.changes)
        except SiteError as e:
            self._show_error(e)
            return
        base = self._base_sim()
        self._sim = sim = simulate(self.site, self.trials, self.seed)
        s0, s1 = base.summary("zone"), sim.summary("zone")
        g0, g1 = base.summary("site"), sim.summary("site")
        table = pd.DataFrame(
            {
                "ale_current": pd.concat([s0["ale"], g0["ale"]]),
                "ale_what_if": pd.concat([s1["ale"], g1["ale"]]),
                "var99_current": pd.concat([s0["var99"], g0["var99"]]),
                "var99_what_if": pd.concat([s1["var99"], g1["var99"]]),
            }
        )
        table.index = [*s0.index, "site"]
        table.index.name = "zone"
        table["ale_change"] = table["ale_what_if"] - table["ale_current"]
        self._summary = table
        self._draw_curves(base, sim)
        self._table.value = self._table_html(table)
        self._status.value = ""
        self.error = None
        self._schedule_heavy()

    def _draw_curves(self, base, sim) -> None:
        z = self.zone
        tol = self.site.tolerance.financial.exceedance
        fs, fz = self.figures["site_curves"], self.figures["zone_curves"]
        with fs.batch_update():
            for trace, s in zip(fs.data[:2], (base, sim)):
                trace.x, trace.y = _xy(_curve(s, "site", "site"))
            if tol and len(fs.data) > 2:
                fs.data[2].x = [float(x) for x, _ in tol]
                fs.data[2].y = [float(p) for _, p in tol]
        with fz.batch_update():
            for trace, s in zip(fz.data[:2], (base, sim)):
                trace.x, trace.y = _xy(_curve(s, "zone", z))
            fz.layout.title.text = f"Zone {escape.plot(z)}: loss exceedance"
        self._plots["site_curves"].draw()
        self._plots["zone_curves"].draw()

    def _table_html(self, table: pd.DataFrame) -> str:
        cur = escape.html(self.base.currency)

        def money(x):
            return escape.html(figures.money(float(x)))

        rows = []
        for zid, r in table.iterrows():
            name = escape.html(zid)
            style = ' style="font-weight:bold"' if zid in (self.zone, "site") else ""
            d = r["ale_change"]
            color = "#2a7ab0" if d < 0 else ("#d9534f" if d > 0 else "inherit")
            rows.append(
                f'<tr{style}><td style="white-space:nowrap">{name}</td>'
                f"<td>{money(r['ale_current'])}</td>"
                f"<td>{money(r['ale_what_if'])}</td>"
                f'<td style="color:{color}">{"+" if d > 0 else ""}{money(d)}</td>'
                f"<td>{money(r['var99_current'])}</td><td>{money(r['var99_what_if'])}</td></tr>"
            )
        head = (
            f"<tr><th>zone</th><th>ALE now [{cur}/yr]</th><th>ALE what-if</th><th>change</th>"
            f"<th>VaR99 now [{cur}]</th><th>VaR99 what-if</th></tr>"
        )
        return (
            '<table class="riskkit-whatif" style="border-collapse:collapse;'
            'font-size:13px;text-align:right;white-space:nowrap">'
            f"{head}{''.join(rows)}</table>"
            f"<small>{self.trials:,} trials, seed {self.seed}; the same random numbers for"
            " both columns</small>"
        )

    def _show_error(self, e: BaseException) -> None:
        self.error = e
        self._status.value = (
            f'<pre style="color:#c9302c;white-space:pre-wrap">{escape.html(e)}</pre>'
        )

    # -- heavy results, debounced ----------------------------------------------------------

    def _schedule_heavy(self) -> None:
        with self._cond:
            self._gen += 1
            gen = self._gen
        self._busy_box.value = (
            '<span class="riskkit-busy" style="color:#b06d00;font-style:italic">busy: computing'
            " SL-T, frontier and plan ...</span>"
        )
        if not self.background:
            self._heavy(gen)
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.debounce, self._heavy, args=(gen,))
        self._timer.daemon = True
        self._timer.start()

    def _heavy(self, gen: int) -> None:
        with self._heavy_lock:
            if gen != self._gen:
                return  # a newer change will do it
            try:
                self._compute_heavy(gen)
            except Exception as e:  # shown in the app; the controls keep working
                self._show_error(e)
            finally:
                with self._cond:
                    self._done = max(self._done, gen)
                    if self._done >= self._gen:
                        self._busy_box.value = ""
                    self._cond.notify_all()

    def _compute_heavy(self, gen: int) -> None:
        site, zone, budget = self.site, self.zone, self.budget
        chosen = list(self.changes.get("implement") or ())
        # the frontier and the budget's plan are of the what-if without the chosen candidates
        rest = {k: v for k, v in self.changes.items() if k != "implement"}
        scen = what_if(self.base, **rest)
        targets = target_levels(site)
        table = gaps(site, targets, state="current").table
        key = repr(sorted(rest.items(), key=lambda kv: kv[0]))
        if key != self._frontier_key:
            fr = frontier(scen, n=10, nested=False, simulate=False)
        else:
            fr = self.frontier
        plan = optimize(scen, budget, simulate=False) if budget else None
        sel = None
        if chosen:
            cost = sum(annualised_cost(scen, cid) for cid in chosen)
            sel = (cost, float(expected_losses(scen, plan=chosen)["ale"].sum()))
        if gen != self._gen:
            return  # stale: drop it
        self.targets, self.frontier, self._frontier_key, self.plan = targets, fr, key, plan
        self._draw_radar(table, zone)
        self._draw_frontier(fr, plan, sel)
        if plan is not None:
            members = ", ".join(escape.html(m) for m in plan.members) or "nothing"
            self._plan_text.value = (
                f"optimal plan within {escape.html(figures.money(budget))}"
                f" {escape.html(self.base.currency)}/yr: <b>{members}</b>"
                f" (ALE {escape.html(figures.money(plan.expected_ale))})"
            )
        else:
            self._plan_text.value = ""

    def _draw_radar(self, table: pd.DataFrame, zone: str) -> None:
        fig = figures.sl_radar(table, ids=[zone], cols=1, title="SL-T, SL-A and SL-C")
        self._replace(self._plots["radar"], fig, height=380, width=460)

    def _draw_frontier(self, fr, plan, sel) -> None:
        pts = fr.points
        fig = figures.frontier_figure(
            pts,
            greedy=fr.greedy,
            plan=None if plan is None else (plan.annualised_cost, plan.expected_ale),
            current_ale=fr.baseline_ale,
            currency=escape.plot(self.base.currency),
            title="Efficient frontier of the what-if (budget plan circled)",
        )
        if sel is not None:
            fig.add_trace(_selection_trace(*sel, self.base.currency))
        self._replace(self._plots["frontier"], fig, height=450, width=1000)

    @staticmethod
    def _replace(plot: _Plot, fig: go.Figure, height: int, width: int) -> None:
        fw = plot.figure
        with fw.batch_update():
            fw.data = ()
            fw.layout = fig.layout
            fw.add_traces(list(fig.data))
            fw.layout.height = height
            fw.layout.width = width
        plot.draw()


def explore(site_or_path, trials: int = 20_000, seed: int | None = None) -> W.Widget:
    """Open the explorer and return its view (the two lines of ``notebooks/explore.py``)."""
    return Explorer(site_or_path, trials=trials, seed=seed).view
