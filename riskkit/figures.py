"""Every plotly figure of riskkit, used by the notebooks, the HTML reports and widgets alike.

Each function takes results as plain pandas objects (or the :class:`~riskkit.site.Site`) and
returns a :class:`plotly.graph_objects.Figure`; none computes risk itself. Colours are fixed per
state (unmitigated, current, plan) so that every figure of a report reads the same way.

References
----------
.. [1] IEC 62443-3-2:2020, clauses 4.4 (ZCR 3: zones and conduits) and 4.6 (ZCR 5: detailed
   risk assessment, SL-T).
.. [2] IEC 62443-1-1:2009, clause 6.3 (the reference model of levels 0-4, after Purdue).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import escape
from .rules import HARM_LABELS, SEVERITY_CLASSES, loss_grid, purdue_level
from .site import FRS, Site

_e = escape.plot
"""Every string from a site or a summary passes through this before plotly shows it."""

__all__ = [
    "STATE_COLORS",
    "money",
    "zone_diagram",
    "exceedance_curves",
    "ale_by_zone",
    "severity_frequencies",
    "sl_radar",
    "gap_heatmap",
    "compliance_heatmap",
    "scenario_risk",
    "frontier_figure",
    "ranking_bars",
    "plan_value",
    "change_bars",
    "tornado_chart",
    "convergence_chart",
    "attack_path_diagram",
    "chokepoint_chart",
]

STATE_COLORS = {
    "unmitigated": "#9e9e9e",
    "current": "#d9534f",
    "plan": "#2a7ab0",
    "previous": "#bdbdbd",
    "tolerance": "#222222",
}
"""One colour per state, shared by every figure."""

KIND_COLORS = {
    "enterprise": "#6a8caf",
    "dmz": "#f0ad4e",
    "operations": "#5bc0de",
    "supervisory": "#7fb77e",
    "control": "#4a9d5b",
    "safety": "#c9302c",
    "field": "#8d6e63",
    "other": "#9575cd",
}

PURDUE_NAMES = {
    5: "Enterprise network",
    4: "Business planning and logistics",
    3.5: "Industrial DMZ",
    3: "Site operations",
    2: "Supervisory control",
    1: "Basic and safety control",
    0: "Process (field)",
}
"""Names of the levels of the reference model (IEC 62443-1-1, after Purdue)."""

_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=30, t=60, b=50))


def money(x: float, currency: str = "") -> str:
    """Format an amount compactly: 1.2 M EUR, 350 k EUR, 900 EUR."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    a = abs(x)
    if a >= 1e9:
        s = f"{x / 1e9:.3g} bn"
    elif a >= 1e6:
        s = f"{x / 1e6:.3g} M"
    elif a >= 1e3:
        s = f"{x / 1e3:.3g} k"
    else:
        s = f"{x:.3g}"
    return f"{s} {currency}".strip()


def _vec(v) -> str:
    if v is None:
        return "-"
    return "[" + " ".join(str(int(x)) for x in v) + "]"


# --------------------------------------------------------------------------------------------
# System under consideration
# --------------------------------------------------------------------------------------------


_NO_LEVEL = -1.0
"""The row of zones without a Purdue level (kind 'other'): below the field level."""


def _zone_level(z) -> float:
    """The Purdue level a zone is drawn at (:func:`riskkit.rules.purdue_level`)."""
    lv = purdue_level(z)
    return _NO_LEVEL if lv is None else lv


def _layout_zones(site: Site) -> tuple[dict[str, tuple[float, float]], list[float]]:
    """x, y of every zone (y = rank of its Purdue level) and the levels from the top."""
    levels: dict[float, list[str]] = {}
    for z in site.zones:
        levels.setdefault(_zone_level(z), []).append(z.id)
    nbrs: dict[str, list[str]] = {z.id: [] for z in site.zones}
    for c in site.conduits:
        a, b = c.zones
        nbrs[a].append(b)
        nbrs[b].append(a)
    order = sorted(levels, reverse=True)
    width = max(len(v) for v in levels.values())
    pos: dict[str, float] = {}

    def place(lv):
        ids = levels[lv]
        n = len(ids)
        for i, zid in enumerate(ids):
            pos[zid] = (width - 1) / 2 + (i - (n - 1) / 2) * max(1.0, (width - 1) / max(n - 1, 1))

    for lv in order:
        place(lv)
    # a few barycentre sweeps (down, up) reduce crossings; ties keep file order
    for sweep in range(4):
        seq = order if sweep % 2 == 0 else order[::-1]
        for lv in seq:
            ids = levels[lv]

            def bary(zid, ids=ids):
                xs = [pos[n] for n in nbrs[zid] if n not in ids]
                return sum(xs) / len(xs) if xs else pos[zid]

            levels[lv] = sorted(ids, key=lambda z: (bary(z), ids.index(z)))
            place(lv)
    rank = {lv: len(order) - 1 - i for i, lv in enumerate(order)}
    return {z.id: (pos[z.id], float(rank[_zone_level(z)])) for z in site.zones}, order


_JUDGED_COLORS = {"meets SL-T": "#4a9d5b", "below SL-T": "#c9302c", "no target": "#9e9e9e"}
_BOX_W, _BOX_H = 0.36, 0.2
"""Half width and half height of a zone box in the zone diagram."""


class _Judge:
    """Target (SL-T) and achieved (SL-A) levels of a diagram, when both are given."""

    def __init__(self, sl_t: pd.DataFrame | None, sl_a: pd.DataFrame | None):
        self.on = sl_t is not None and sl_a is not None
        self.sl_t, self.sl_a = sl_t, sl_a

    def missing(self, rid: str) -> int | None:
        """Levels SL-A falls short of SL-T, summed over FRs (None where not judged)."""
        if not self.on or rid not in self.sl_t.index or rid not in self.sl_a.index:
            return None
        frs = list(FRS)
        t = self.sl_t.loc[rid, frs].to_numpy(dtype=float)
        return int(np.clip(t - self.sl_a.loc[rid, frs].to_numpy(dtype=float), 0, None).sum())

    def hover(self, rid: str) -> str:
        """The SL-T and assessed SL-A lines of a hover text (empty where not judged)."""
        if not self.on or rid not in self.sl_t.index:
            return ""
        frs = list(FRS)
        text = f"<br>SL-T {_vec(self.sl_t.loc[rid, frs])}"
        if rid in self.sl_a.index:
            text += f"<br>SL-A {_vec(self.sl_a.loc[rid, frs])} (assessed state)"
        return text


def _draw_layers(fig: go.Figure, order: list[float], xmax: float) -> None:
    """Alternating bands, one per Purdue level, behind the zones."""
    for i, _lv in enumerate(order):
        y = float(len(order) - 1 - i)
        fig.add_shape(
            type="rect",
            x0=-0.6,
            x1=xmax + 0.6,
            y0=y - 0.36,
            y1=y + 0.36,
            line=dict(width=0),
            fillcolor="#f2f5f9" if i % 2 == 0 else "#e6ebf2",
            layer="below",
        )


def _conduit_text(c, judge: _Judge, miss: int | None) -> str:
    """Hover text of a conduit, every site string escaped."""
    text = (
        f"<b>{_e(c.id)}</b> {_e(c.name)}<br>{_e(c.zones[0])} - {_e(c.zones[1])}"
        f"<br>protocols: {_e(', '.join(c.protocols) or '-')}"
        f"<br>SL-C {_vec(c.sl_c)}<br>SL-A {_vec(c.sl_a)} (site file)"
    )
    if judge.on and c.id in judge.sl_t.index:
        text += judge.hover(c.id) + f"<br>levels missing: {miss}"
    return text


def _conduit_mids(site: Site, xy: dict) -> dict[str, tuple[float, float]]:
    """Midpoint of each conduit's line; parallel conduits between two zones bend apart."""
    out = {}
    pair_count: dict[frozenset, int] = {}
    for c in site.conduits:
        (x0, y0), (x1, y1) = xy[c.zones[0]], xy[c.zones[1]]
        key = frozenset(c.zones)
        k = pair_count.get(key, 0)
        pair_count[key] = k + 1
        bend = 0.15 * ((k + 1) // 2) * (1 if k % 2 else -1)
        out[c.id] = ((x0 + x1) / 2 + bend, (y0 + y1) / 2)
    return out


def _draw_conduits(fig: go.Figure, site: Site, xy: dict, judge: _Judge) -> None:
    """One line per conduit and a midpoint diamond that carries the hover text."""
    mids: dict[str, list] = {"x": [], "y": [], "text": [], "color": []}
    at = _conduit_mids(site, xy)
    for c in site.conduits:
        (x0, y0), (x1, y1) = xy[c.zones[0]], xy[c.zones[1]]
        mx, my = at[c.id]
        miss = judge.missing(c.id)
        bad = judge.on and bool(miss)
        color = "#c9302c" if bad else "#555555"
        fig.add_trace(
            go.Scatter(
                x=[x0, mx, x1],
                y=[y0, my, y1],
                mode="lines",
                line=dict(color=color, width=2.5 if bad else 1.8, dash="dash" if bad else None),
                hoverinfo="skip",
                showlegend=False,
            )
        )
        text = _conduit_text(c, judge, miss)
        for k_, v in zip(("x", "y", "text", "color"), (mx, my, text, color)):
            mids[k_].append(v)
    if site.conduits:
        fig.add_trace(
            go.Scatter(
                x=mids["x"],
                y=mids["y"],
                mode="markers",
                marker=dict(size=10, color=mids["color"], symbol="diamond"),
                hovertext=mids["text"],
                hoverinfo="text",
                name="conduit (hover for details)",
            )
        )


def _zone_text(site: Site, z, judge: _Judge) -> str:
    """Hover text of a zone, every site string escaped."""
    t = (
        f"<b>{_e(z.id)}</b> {_e(z.name)}<br>kind: {_e(z.kind)}, level {_zone_level(z):g}"
        f"<br>SL-C {_vec(z.sl_c)}<br>SL-A {_vec(z.sl_a)} (site file)"
        f"<br>scenarios: {len(site.scenarios_in(z.id))}"
    )
    if z.assets:
        more = " ..." if len(z.assets) > 5 else ""
        t += "<br>assets: " + _e(", ".join(z.assets[:5])) + more
    return t + judge.hover(z.id)


def _zone_color(z, judge: _Judge) -> tuple[str, str]:
    """Legend key and colour of a zone box: judged against SL-T, else by kind."""
    if judge.on:
        miss = judge.missing(z.id)
        key = "no target" if miss is None else ("meets SL-T" if miss == 0 else "below SL-T")
        return key, _JUDGED_COLORS[key]
    return _e(z.kind), KIND_COLORS.get(z.kind, "#999999")


def _draw_zones(fig: go.Figure, site: Site, xy: dict, judge: _Judge) -> dict[str, str]:
    """Zone boxes (shapes) with a label and an invisible hover marker; the legend keys."""
    keys = {}
    hover: dict[str, list] = {"x": [], "y": [], "text": []}
    for z in site.zones:
        x, y = xy[z.id]
        key, color = _zone_color(z, judge)
        keys[key] = color
        fig.add_shape(
            type="rect",
            x0=x - _BOX_W,
            x1=x + _BOX_W,
            y0=y - _BOX_H,
            y1=y + _BOX_H,
            fillcolor=color,
            line=dict(color="white", width=2),
            layer="above",
        )
        name = (z.name or "")[:28] + ("..." if z.name and len(z.name) > 28 else "")
        fig.add_annotation(
            x=x,
            y=y,
            text=f"<b>{_e(z.id)}</b><br><span style='font-size:10px'>{_e(name)}</span>",
            showarrow=False,
            font=dict(color="white", size=12),
        )
        hover["x"].append(x)
        hover["y"].append(y)
        hover["text"].append(_zone_text(site, z, judge))
    fig.add_trace(
        go.Scatter(
            x=hover["x"],
            y=hover["y"],
            mode="markers",
            marker=dict(size=40, opacity=0),
            hovertext=hover["text"],
            hoverinfo="text",
            showlegend=False,
        )
    )
    return keys


def zone_diagram(
    site: Site,
    sl_t: pd.DataFrame | None = None,
    sl_a: pd.DataFrame | None = None,
    title: str | None = None,
) -> go.Figure:
    """Zones and conduits drawn on the layers of the Purdue reference model.

    Every string of the site (ids, names, protocols, assets, the title) is escaped with
    :func:`riskkit.escape.plot`, so it shows literally.

    Parameters
    ----------
    site : Site
    sl_t, sl_a : pandas.DataFrame, optional
        Target and achieved levels, indexed by zone or conduit id, columns FR1..FR7. When both
        are given, zones are coloured by whether they meet their target (SL-A >= SL-T in every
        FR) and conduits that miss theirs are drawn dashed red; otherwise zones are coloured by
        kind.
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.4 (ZCR 3.1-3.5: zone and conduit diagram).
    """
    xy, order = _layout_zones(site)
    judge = _Judge(sl_t, sl_a)
    fig = go.Figure()
    xmax = max(x for x, _ in xy.values())
    _draw_layers(fig, order, xmax)
    _draw_conduits(fig, site, xy, judge)
    keys = _draw_zones(fig, site, xy, judge)
    for key, color in keys.items():  # legend entries for the box colours
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=14, symbol="square", color=color),
                name=key,
            )
        )
    n = len(order)
    fig.update_layout(
        **_LAYOUT,
        title=_e(title or f"Zones and conduits of {site.name}"),
        height=max(420, 105 * n + 140),
        xaxis=dict(visible=False, range=[-0.65, xmax + 0.65]),
        yaxis=dict(
            tickvals=list(range(n)),
            ticktext=[f"L{lv:g} {PURDUE_NAMES.get(lv, '')}".strip() for lv in order[::-1]],
            range=[-0.5, n - 0.5],
            zeroline=False,
            showgrid=False,
            title="level of the reference model (Purdue)",
        ),
        legend=dict(orientation="h", y=-0.04),
        hoverlabel=dict(align="left"),
    )
    return fig


# --------------------------------------------------------------------------------------------
# Risk
# --------------------------------------------------------------------------------------------


def _sim_title(title: str, trials: int | None) -> str:
    """An escaped figure title, with the simulated years behind it as a subtitle if given."""
    if trials is None:
        return _e(title)
    return f"{_e(title)}<br><sup>Monte Carlo: {int(trials):,} simulated years</sup>"


def _as_curve(c) -> tuple[np.ndarray, np.ndarray]:
    """(loss, probability) arrays from a Series (index = loss) or a two-column DataFrame."""
    if isinstance(c, pd.Series):
        return c.index.to_numpy(dtype=float), c.to_numpy(dtype=float)
    if isinstance(c, pd.DataFrame):
        cols = [x for x in c.columns if str(x).lower() in ("loss", "x", "threshold")]
        pcols = [x for x in c.columns if str(x).lower() in ("probability", "p", "exceedance")]
        if cols and pcols:
            return c[cols[0]].to_numpy(dtype=float), c[pcols[0]].to_numpy(dtype=float)
        if c.shape[1] == 1:
            return c.index.to_numpy(dtype=float), c.iloc[:, 0].to_numpy(dtype=float)
        return c.iloc[:, 0].to_numpy(dtype=float), c.iloc[:, 1].to_numpy(dtype=float)
    x, p = c
    return np.asarray(x, dtype=float), np.asarray(p, dtype=float)


def exceedance_curves(
    curves: Mapping[str, object],
    tolerance: Sequence[tuple[float, float]] = (),
    currency: str = "",
    title: str = "Loss exceedance: P(annual loss >= x)",
    trials: int | None = None,
) -> go.Figure:
    """Loss exceedance curves of several states against the tolerance curve.

    Parameters
    ----------
    curves : mapping of str to curve
        Label (a state name picks its colour) to a curve: a Series indexed by loss
        [currency] holding P(annual loss >= loss), a DataFrame with columns ``loss`` and
        ``probability``, or a pair of arrays.
    tolerance : sequence of (loss, probability)
        The tolerance points (``site.tolerance.financial.exceedance``), drawn as a step curve:
        a state is within tolerance where its curve stays below every point.
    currency : str
    title : str
    trials : int, optional
        Simulated years behind the curves, shown under the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig, cur = go.Figure(), _e(currency)
    for label, c in curves.items():
        x, p = _as_curve(c)
        keep = (x > 0) & (p > 0)
        fig.add_trace(
            go.Scatter(
                x=x[keep],
                y=p[keep],
                mode="lines",
                name=_e(label),
                line=dict(color=STATE_COLORS.get(label), width=2.5, shape="hv"),
                hovertemplate=f"{_e(label)}<br>loss >= %{{x:,.3s}} {cur}"
                "<br>P = %{y:.3g}<extra></extra>",
            )
        )
    if tolerance:
        tx = [float(x) for x, _ in tolerance]
        tp = [float(p) for _, p in tolerance]
        fig.add_trace(
            go.Scatter(
                x=tx,
                y=tp,
                mode="lines+markers",
                name="tolerance",
                line=dict(color=STATE_COLORS["tolerance"], dash="dash", shape="hv"),
                marker=dict(size=10, symbol="x"),
                hovertemplate="tolerable: P(loss >= %{x:,.3s}) <= %{y:.3g}<extra></extra>",
            )
        )
    fig.update_layout(
        **_LAYOUT,
        title=_sim_title(title, trials),
        xaxis=dict(type="log", title=f"annual loss x [{cur}]", exponentformat="SI"),
        yaxis=dict(type="log", title="P(annual loss >= x)", exponentformat="power"),
        legend=dict(orientation="h", y=-0.18),
        height=480,
    )
    return fig


def ale_by_zone(
    ale: pd.DataFrame,
    se: pd.DataFrame | None = None,
    tolerance: float | None = None,
    currency: str = "",
    title: str = "Expected annual loss per zone",
    trials: int | None = None,
) -> go.Figure:
    """Grouped bars of ALE per zone, one bar per state, with Monte Carlo error bars.

    Parameters
    ----------
    ale : pandas.DataFrame
        Index zone id, one column per state: ALE [currency/yr].
    se : pandas.DataFrame, optional
        Same shape: standard error of each ALE [currency/yr]; drawn as +-2 SE.
    tolerance : float, optional
        ``per_zone_ale`` [currency/yr], drawn as a horizontal line.
    currency : str
    title : str
    trials : int, optional
        Simulated years behind the ALEs and their error bars, shown under the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig, cur = go.Figure(), _e(currency)
    for state in ale.columns:
        err = None
        if se is not None and state in se.columns:
            err = dict(type="data", array=2 * se[state].to_numpy(dtype=float), visible=True)
        fig.add_trace(
            go.Bar(
                x=[_e(z) for z in ale.index],
                y=ale[state].to_numpy(dtype=float),
                name=_e(state),
                marker_color=STATE_COLORS.get(str(state)),
                error_y=err,
                hovertemplate=f"{_e(state)}<br>%{{x}}: %{{y:,.4s}} {cur}/yr<extra></extra>",
            )
        )
    if tolerance:
        label = f"tolerable per zone: {money(tolerance, cur)}/yr"
        fig.add_hline(
            y=tolerance,
            line=dict(color=STATE_COLORS["tolerance"], dash="dash"),
            annotation_text=label,
            annotation_position="top left",
        )
        # the same line as a legend entry (a shape has none)
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=label,
                line=dict(color=STATE_COLORS["tolerance"], dash="dash"),
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        **_LAYOUT,
        title=_sim_title(title, trials),
        barmode="group",
        xaxis=dict(title="zone"),
        yaxis=dict(type="log", title=f"ALE [{cur}/yr] (log scale)", exponentformat="SI"),
        legend=dict(orientation="h", y=-0.15),
        height=460,
    )
    return fig


def severity_frequencies(
    freq: pd.DataFrame,
    tolerance=None,
    title: str = "Frequency of harm by severity class",
    trials: int | None = None,
) -> go.Figure:
    """Frequencies of safety and environmental events of each severity class or worse.

    Parameters
    ----------
    freq : pandas.DataFrame
        Index = state (or any label), columns ``safety_ge1..4`` and ``environment_ge1..4``
        [events/yr]: frequency of events of class >= k.
    tolerance : Tolerance, optional
        ``site.tolerance``; its per-scenario tolerable frequencies are drawn as markers (a
        reference: the site total may exceed them while each scenario stays within).
    title : str
    trials : int, optional
        Simulated years behind the frequencies, shown under the title.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    harms = tuple(HARM_LABELS)
    fig = make_subplots(rows=1, cols=len(harms), subplot_titles=list(HARM_LABELS.values()))
    classes = list(SEVERITY_CLASSES)
    for j, h in enumerate(harms, start=1):
        for state, row in freq.iterrows():
            y = [float(row.get(f"{h}_ge{k}", np.nan)) for k in classes]
            fig.add_trace(
                go.Bar(
                    x=[f">= {k}" for k in classes],
                    y=y,
                    name=_e(state),
                    legendgroup=_e(state),
                    showlegend=j == 1,
                    marker_color=STATE_COLORS.get(str(state)),
                    hovertemplate=f"{_e(state)}<br>class %{{x}}: %{{y:.3g}} /yr<extra></extra>",
                ),
                row=1,
                col=j,
            )
        table = getattr(tolerance, h, None) if tolerance is not None else None
        if table:
            ks = [k for k in classes if k in table]
            fig.add_trace(
                go.Scatter(
                    x=[f">= {k}" for k in ks],
                    y=[table[k] for k in ks],
                    mode="markers",
                    marker=dict(symbol="line-ew-open", size=34, color="black", line_width=3),
                    name="tolerable per scenario",
                    legendgroup="tol",
                    showlegend=j == 1,
                    hovertemplate="tolerable per scenario: %{y:.3g} /yr<extra></extra>",
                ),
                row=1,
                col=j,
            )
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=j)
    fig.update_yaxes(title_text="events per year of class >= k", row=1, col=1)
    fig.update_xaxes(title_text="severity class k")
    fig.update_layout(
        **_LAYOUT,
        title=_sim_title(title, trials),
        barmode="group",
        legend=dict(orientation="h", y=-0.15),
        height=440,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Security levels
# --------------------------------------------------------------------------------------------


def _pivot(table: pd.DataFrame, kind: str, col: str) -> pd.DataFrame:
    sub = table[table["kind"] == kind]
    ids = list(dict.fromkeys(sub["id"]))
    out = sub.pivot(index="id", columns="fr", values=col).reindex(index=ids, columns=list(FRS))
    return out


def sl_radar(
    gaps_table: pd.DataFrame,
    kind: str = "zone",
    ids: Sequence[str] | None = None,
    cols: int = 4,
    title: str = "SL-T, SL-A and SL-C per zone (FR1..FR7)",
) -> go.Figure:
    """Radar charts of the target, achieved and capability SL vectors, one per zone.

    Parameters
    ----------
    gaps_table : pandas.DataFrame
        ``Gaps.table`` (long form: kind, id, fr, sl_t, sl_c, sl_a, gap).
    kind : {'zone', 'conduit'}
    ids : sequence of str, optional
        Which zones (default all of ``kind``).
    cols : int
        Radar charts per row.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    t, a, c = (_pivot(gaps_table, kind, k) for k in ("sl_t", "sl_a", "sl_c"))
    ids = list(ids) if ids is not None else list(t.index)
    n = max(len(ids), 1)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        specs=[[{"type": "polar"}] * cols for _ in range(rows)],
        subplot_titles=[_e(i) for i in ids],
        vertical_spacing=min(0.3, 0.5 / rows) if rows > 1 else 0.0,
        horizontal_spacing=0.08,
    )
    # each zone's title sits above its radar's FR labels (FR3 is near the top), not on them
    fig.for_each_annotation(lambda a: a.update(yshift=28, font_size=13))
    theta = list(FRS) + [FRS[0]]
    styles = (
        ("SL-C", c, dict(color="#7f7f7f", dash="dot"), None),
        ("SL-A", a, dict(color=STATE_COLORS["current"]), "toself"),
        ("SL-T", t, dict(color="#222222", dash="dash", width=2.5), None),
    )
    for i, ident in enumerate(ids):
        r_, c_ = divmod(i, cols)
        for name, table, line, fill in styles:
            vals = table.loc[ident].astype("Float64") if ident in table.index else None
            if vals is None or vals.isna().all():
                continue
            v = [float(x) if not pd.isna(x) else 0.0 for x in vals] + [
                float(vals.iloc[0]) if not pd.isna(vals.iloc[0]) else 0.0
            ]
            fig.add_trace(
                go.Scatterpolar(
                    r=v,
                    theta=theta,
                    name=name,
                    legendgroup=name,
                    showlegend=i == 0,
                    line=line,
                    fill=fill,
                    opacity=0.85,
                    hovertemplate=f"{_e(ident)} {name} %{{theta}}: %{{r}}<extra></extra>",
                ),
                row=r_ + 1,
                col=c_ + 1,
            )
    fig.update_polars(
        radialaxis=dict(range=[0, 4], tickvals=[1, 2, 3, 4], tickfont_size=9, angle=90),
        angularaxis=dict(rotation=90 + 360 / 14, direction="clockwise"),
    )
    fig.update_layout(
        **{**_LAYOUT, "margin": dict(l=50, r=50, t=110, b=50)},
        title=_e(title),
        height=360 * rows + 100,
        legend=dict(orientation="h", y=-0.05),
    )
    return fig


def gap_heatmap(
    gaps_table: pd.DataFrame,
    kind: str = "zone",
    title: str | None = None,
) -> go.Figure:
    """Heat map of the SL gap (SL-T - SL-A, at least 0) per zone (or conduit) and FR.

    Each cell reads ``T/A``; a star marks a capability gap (SL-T above SL-C: the installed
    equipment cannot reach the target by configuration alone).

    Parameters
    ----------
    gaps_table : pandas.DataFrame
        ``Gaps.table``.
    kind : {'zone', 'conduit'}
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
    """
    g, t, a = (_pivot(gaps_table, kind, k) for k in ("gap", "sl_t", "sl_a"))
    cap = _pivot(gaps_table, kind, "capability_gap") if "capability_gap" in gaps_table else None
    text = []
    for ident in g.index:
        row = []
        for fr in FRS:
            s = f"{int(t.loc[ident, fr])}/{int(a.loc[ident, fr])}"
            if cap is not None and bool(cap.loc[ident, fr]):
                s += "*"
            row.append(s)
        text.append(row)
    fig = go.Figure(
        go.Heatmap(
            z=g.to_numpy(dtype=float),
            x=list(FRS),
            y=[_e(i) for i in g.index],
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f7f7f7"], [0.25, "#fcbba1"], [0.5, "#fb6a4a"], [1, "#a50f15"]],
            zmin=0,
            zmax=4,
            colorbar=dict(title="gap"),
            hovertemplate="%{y} %{x}: SL-T/SL-A %{text}, gap %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        **_LAYOUT,
        title=_e(title or f"SL gaps per {kind} and FR (cells: SL-T/SL-A, * = SL-T above SL-C)"),
        xaxis=dict(title="foundational requirement"),
        yaxis=dict(autorange="reversed", title=kind),
        height=max(300, 42 * len(g.index) + 140),
    )
    return fig


def compliance_heatmap(
    gaps_table: pd.DataFrame,
    kind: str = "zone",
    title: str | None = None,
) -> go.Figure:
    """Whether each zone meets its target level in each FR, or by how many levels it falls short.

    Cells read ✓ where SL-A >= SL-T and ``-k`` where SL-A is ``k`` levels below SL-T; the
    colour goes from green (meets) to dark red (four levels short).

    Parameters
    ----------
    gaps_table : pandas.DataFrame
        ``Gaps.table`` (long form: kind, id, fr, sl_t, sl_a, gap) [levels].
    kind : {'zone', 'conduit'}
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
    """
    g = _pivot(gaps_table, kind, "gap").astype(float)
    text = [["✓" if v <= 0 else f"−{int(v)}" for v in row] for row in g.to_numpy()]
    n_meet = int((g.fillna(0) <= 0).all(axis=1).sum())
    fig = go.Figure(
        go.Heatmap(
            z=-g.to_numpy(dtype=float),
            x=list(FRS),
            y=[_e(i) for i in g.index],
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#a50f15"], [0.5, "#fb6a4a"], [0.75, "#fcbba1"], [1, "#74c476"]],
            zmin=-4,
            zmax=0,
            colorbar=dict(
                title="levels short",
                tickvals=[0, -1, -2, -3, -4],
                ticktext=["meets", "-1", "-2", "-3", "-4"],
            ),
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        **_LAYOUT,
        title=_e(
            title
            or f"Target levels met per {kind} and FR ({n_meet} of {len(g)} {kind}s meet all;"
            " −k = k levels short)"
        ),
        xaxis=dict(title="foundational requirement"),
        yaxis=dict(autorange="reversed", title=kind),
        height=max(300, 42 * len(g.index) + 160),
    )
    return fig


def scenario_risk(
    scenarios: pd.DataFrame,
    names: Mapping[str, str] | None = None,
    tolerance: float | None = None,
    exceedance: Sequence[tuple[float, float]] = (),
    currency: str = "",
    title: str = "Risk of each scenario: how often against how much",
) -> go.Figure:
    """Frequency against loss per event of every scenario, bubbles sized by expected loss.

    Parameters
    ----------
    scenarios : pandas.DataFrame
        Index scenario id; columns ``zone``, ``event_rate`` [events/yr], ``loss_per_event``
        [currency] and ``ale`` [currency/yr] (``Simulation.expected()``).
    names : mapping, optional
        Scenario id to name, for the hover.
    tolerance : float, optional
        ``per_zone_ale`` [currency/yr]: drawn as the line where frequency x loss equals it.
    exceedance : sequence of (loss, probability)
        The site's exceedance tolerance: a scenario above these steps alone breaks it.
    currency : str
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
        Scenarios with no expected loss cannot be placed on log axes; the title says how many
        are left out.
    """
    cur, names = _e(currency), dict(names or {})
    df = scenarios[(scenarios["event_rate"] > 0) & (scenarios["loss_per_event"] > 0)]
    left_out = len(scenarios) - len(df)
    fig = go.Figure()
    biggest = float(df["ale"].max()) if len(df) else 1.0
    sizeref = 2.0 * biggest / 48.0**2 if biggest > 0 else 1.0
    for zone, g in df.groupby("zone", sort=False):
        hover = [f"{_e(i)}: {_e(names.get(i, ''))}<br>zone {_e(zone)}" for i in g.index]
        fig.add_trace(
            go.Scatter(
                x=g["loss_per_event"],
                y=g["event_rate"],
                mode="markers",
                name=_e(zone),
                marker=dict(
                    size=g["ale"].clip(lower=0),
                    sizemode="area",
                    sizeref=sizeref,
                    sizemin=4,
                    opacity=0.7,
                    line=dict(width=1, color="white"),
                ),
                customdata=np.column_stack([hover, g["ale"].to_numpy(dtype=float)]),
                hovertemplate="%{customdata[0]}<br>%{y:.3g} events/yr x %{x:,.4s} "
                f"{cur} per event<br>expected loss %{{customdata[1]:,.4s}} {cur}/yr"
                "<extra></extra>",
            )
        )
    if len(df) and tolerance:
        lo = float(df["loss_per_event"].min()) / 3
        hi = float(df["loss_per_event"].max()) * 3
        xs = loss_grid(lo, hi, 20)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=tolerance / xs,
                mode="lines",
                name=f"expected loss = tolerable per zone ({money(tolerance, cur)}/yr)",
                line=dict(color=STATE_COLORS["tolerance"], dash="dash"),
                hoverinfo="skip",
            )
        )
    if exceedance:
        pts = sorted((float(x), float(p)) for x, p in exceedance)
        fig.add_trace(
            go.Scatter(
                x=[x for x, _ in pts],
                y=[p for _, p in pts],
                mode="lines+markers",
                name="site exceedance tolerance (loss, probability per year)",
                line=dict(color="#6a3d9a", dash="dot", shape="hv"),
                marker=dict(symbol="x", size=9),
                hovertemplate=f"tolerable: P(loss >= %{{x:,.3s}} {cur}) <= %{{y:.3g}}"
                "<extra></extra>",
            )
        )
    if left_out:
        title = f"{title} ({left_out} of {len(scenarios)} scenarios with no expected loss left out)"
    fig.update_layout(
        **_LAYOUT,
        title=_e(title),
        xaxis=dict(type="log", title=f"loss per successful attack [{cur}]", exponentformat="SI"),
        yaxis=dict(type="log", title="successful attacks per year", exponentformat="power"),
        legend=dict(orientation="h", y=-0.18, title_text="zone"),
        height=540,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Countermeasures
# --------------------------------------------------------------------------------------------


def _col(df: pd.DataFrame, *names: str) -> str | None:
    for n in names:
        if n in df.columns:
            return n
    return None


def frontier_figure(
    points: pd.DataFrame,
    greedy: pd.DataFrame | None = None,
    plan: tuple[float, float] | None = None,
    current_ale: float | None = None,
    currency: str = "",
    title: str = "Efficient frontier: what each budget buys",
) -> go.Figure:
    """Cost against residual ALE (and VaR99 where given) of the optimal plans and of greedy.

    Parameters
    ----------
    points : pandas.DataFrame
        Frontier plans: ``annualised_cost`` (or ``cost``) [currency/yr], ``expected_ale``
        [currency/yr], optionally ``var99`` [currency], ``members`` (for the hover).
    greedy : pandas.DataFrame, optional
        The greedy sequence, same columns.
    plan : (cost, ale), optional
        The recommended plan, highlighted.
    current_ale : float, optional
        ALE today, drawn at cost 0.
    currency : str
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    has_var = "var99" in points.columns and points["var99"].notna().any()
    currency = _e(currency)
    fig = make_subplots(
        rows=2 if has_var else 1,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            ["Expected annual loss", "VaR 99 % of the annual loss"] if has_var else None
        ),
    )

    curve = dict(fig=fig, has_var=has_var, currency=currency)
    _frontier_curve(points, "optimal plans", (STATE_COLORS["plan"], None, "circle"), **curve)
    if greedy is not None and len(greedy):
        _frontier_curve(greedy, "greedy sequence", ("#ff7f0e", "dot", "triangle-up"), **curve)
    _frontier_marks(fig, plan, current_ale, currency)
    _frontier_layout(fig, has_var, currency, title)
    return fig


def _frontier_curve(df, name, style, *, fig, has_var, currency) -> None:
    """A frontier (or the greedy sequence): cost against ALE, and VaR99 below where given.

    ``style`` is (colour, dash, marker symbol); ``currency`` is already escaped.
    """
    color, dash, symbol = style
    cc = _col(df, "annualised_cost", "cost")
    hover = None
    if "members" in df.columns:
        hover = [
            _e(", ".join(m) if isinstance(m, (list, tuple, np.ndarray)) else str(m))
            for m in df["members"]
        ]
    d = df.sort_values(cc)
    hv = None if hover is None else [hover[i] for i in np.argsort(df[cc].to_numpy())]
    metrics = [("expected_ale", 1)] + ([("var99", 2)] if has_var else [])
    for col, row in metrics:
        if col not in d.columns:
            continue
        fig.add_trace(
            go.Scatter(
                x=d[cc],
                y=d[col],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=row == 1,
                line=dict(color=color, dash=dash, shape="hv" if dash else "linear"),
                marker=dict(symbol=symbol, size=7),
                customdata=hv,
                hovertemplate=f"{name}<br>cost %{{x:,.4s}} {currency}/yr"
                f"<br>{col} %{{y:,.4s}} {currency}"
                + ("<br>%{customdata}" if hv is not None else "")
                + "<extra></extra>",
            ),
            row=row,
            col=1,
        )


def _frontier_marks(fig, plan, current_ale, currency) -> None:
    """Today's ALE at cost 0 and the recommended plan, on the upper panel."""
    if current_ale is not None:
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[current_ale],
                mode="markers",
                marker=dict(size=12, color=STATE_COLORS["current"]),
                name="today",
                hovertemplate=f"today: ALE %{{y:,.4s}} {currency}/yr<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if plan is not None:
        fig.add_trace(
            go.Scatter(
                x=[plan[0]],
                y=[plan[1]],
                mode="markers",
                marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color="black", width=2.5)),
                name="recommended plan",
                hovertemplate=f"recommended: cost %{{x:,.4s}}, ALE %{{y:,.4s}} {currency}"
                "<extra></extra>",
            ),
            row=1,
            col=1,
        )


def _frontier_layout(fig, has_var, currency, title) -> None:
    """Axis titles (``currency`` already escaped), title and size of the frontier figure."""
    fig.update_yaxes(title_text=f"[{currency}/yr]", exponentformat="SI", row=1, col=1)
    if has_var:
        fig.update_yaxes(title_text=f"[{currency}]", exponentformat="SI", row=2, col=1)
    fig.update_xaxes(
        title_text=f"annualised cost of the plan [{currency}/yr]",
        exponentformat="SI",
        row=2 if has_var else 1,
        col=1,
    )
    fig.update_layout(
        **_LAYOUT,
        title=_e(title),
        height=680 if has_var else 450,
        legend=dict(orientation="h", y=-0.1),
    )


def ranking_bars(
    ranking: pd.DataFrame,
    top: int = 20,
    currency: str = "",
    title: str = "Candidate countermeasures: risk reduction against cost",
) -> go.Figure:
    """Horizontal bars of each candidate's ALE reduction beside its annualised cost.

    Parameters
    ----------
    ranking : pandas.DataFrame
        Index or column ``countermeasure``; columns ``delta_ale`` [currency/yr],
        ``annualised_cost`` [currency/yr] and optionally ``rosi`` [-], in ranking order.
    top : int
        Show the first ``top`` rows.
    currency : str
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    df = ranking.head(top)
    if len(ranking) > len(df):
        title = f"{title} (the top {len(df)} of {len(ranking)} candidates)"
    ids = list(df["countermeasure"]) if "countermeasure" in df.columns else list(df.index)
    ids, currency = [_e(i) for i in ids], _e(currency)
    dcol = _col(df, "delta_ale", "ale_reduction", "reduction")
    ccol = _col(df, "annualised_cost", "cost")
    fig = go.Figure()
    if dcol:
        text = None
        if "rosi" in df.columns:
            text = [f"ROSI {r:.1f}" if pd.notna(r) else "" for r in df["rosi"]]
        fig.add_trace(
            go.Bar(
                y=ids,
                x=df[dcol],
                orientation="h",
                name="ALE reduction",
                marker_color=STATE_COLORS["plan"],
                text=text,
                textposition="outside",
                hovertemplate=f"%{{y}}: reduces ALE by %{{x:,.4s}} {currency}/yr<extra></extra>",
            )
        )
    if ccol:
        fig.add_trace(
            go.Bar(
                y=ids,
                x=df[ccol],
                orientation="h",
                name="annualised cost",
                marker_color="#f0ad4e",
                hovertemplate=f"%{{y}}: costs %{{x:,.4s}} {currency}/yr<extra></extra>",
            )
        )
    fig.update_layout(
        **_LAYOUT,
        title=_e(title),
        barmode="group",
        xaxis=dict(type="log", title=f"[{currency}/yr] (log scale)", exponentformat="SI"),
        yaxis=dict(autorange="reversed", title="candidate countermeasure"),
        height=max(360, 34 * len(ids) + 140),
        legend=dict(orientation="h", y=-0.1),
    )
    return fig


# --------------------------------------------------------------------------------------------
# Management summary
# --------------------------------------------------------------------------------------------


def plan_value(
    current_ale: float,
    plan_ale: float,
    plan_cost: float,
    currency: str = "",
    title: str = "What the recommended plan buys",
) -> go.Figure:
    """Today's expected loss beside the plan's residual loss plus its annualised cost.

    Parameters
    ----------
    current_ale, plan_ale : float
        Expected annual loss today and with the plan [currency/yr].
    plan_cost : float
        Annualised cost of the plan [currency/yr].
    currency : str
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig, currency = go.Figure(), _e(currency)
    x = ["today", "with the plan"]
    fig.add_trace(
        go.Bar(
            x=x,
            y=[current_ale, plan_ale],
            name="expected annual loss",
            marker_color=[STATE_COLORS["current"], STATE_COLORS["plan"]],
            text=[money(current_ale, currency), money(plan_ale, currency)],
            textposition="inside",
            hovertemplate=f"%{{x}}: expected loss %{{y:,.4s}} {currency}/yr<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=[0, plan_cost],
            name="annualised cost of the plan",
            marker_color="#f0ad4e",
            text=["", money(plan_cost, currency)],
            textposition="inside",
            hovertemplate=f"plan cost %{{y:,.4s}} {currency}/yr<extra></extra>",
        )
    )
    saved = current_ale - plan_ale - plan_cost
    fig.update_layout(
        **_LAYOUT,
        title=f"{_e(title)}: net {'saving' if saved >= 0 else 'cost'} of "
        f"{money(abs(saved), currency)} per year",
        barmode="stack",
        xaxis=dict(title="state"),
        yaxis=dict(title=f"[{currency}/yr]", exponentformat="SI"),
        height=420,
        legend=dict(orientation="h", y=-0.12),
    )
    return fig


def change_bars(
    before: pd.Series,
    after: pd.Series,
    currency: str = "",
    labels: tuple[str, str] = ("previous", "current"),
    title: str = "Expected annual loss per zone since the previous assessment",
) -> go.Figure:
    """Grouped bars of a per-zone value in the previous and the present assessment.

    Parameters
    ----------
    before, after : pandas.Series
        Indexed by zone id [currency/yr]; zones missing from one side show no bar there.
    currency : str
    labels : (str, str)
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    ids = list(dict.fromkeys([*after.index, *before.index]))
    fig, currency = go.Figure(), _e(currency)
    for s, label, color in (
        (before, labels[0], STATE_COLORS["previous"]),
        (after, labels[1], STATE_COLORS["current"]),
    ):
        fig.add_trace(
            go.Bar(
                x=[_e(i) for i in ids],
                y=[float(s.get(i, np.nan)) for i in ids],
                name=_e(label),
                marker_color=color,
                hovertemplate=f"{_e(label)}<br>%{{x}}: %{{y:,.4s}} {currency}/yr<extra></extra>",
            )
        )
    fig.update_layout(
        **_LAYOUT,
        title=_e(title),
        barmode="group",
        xaxis=dict(title="zone"),
        yaxis=dict(title=f"[{currency}/yr]", exponentformat="SI"),
        height=400,
        legend=dict(orientation="h", y=-0.15),
    )
    return fig


def tornado_chart(table: pd.DataFrame, currency: str = "", top: int = 12, title: str | None = None):
    """Tornado diagram: site ALE with each input at its P10 and its P90.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`riskkit.sensitivity.tornado`: index the input family, columns ``low``,
        ``high``, ``swing`` [currency/yr]; ``attrs['base_ale']`` is drawn as the centre line.
    currency : str
    top : int
        Rows shown (largest swing at the top).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
    """
    cur = _e(currency)
    t = table.head(top).iloc[::-1]
    base = float(table.attrs.get("base_ale", 0.0))
    names = [_e(k) for k in t.index]
    fig = go.Figure()
    for col, label, color in (
        ("low", "input at P10", "#4a7ab5"),
        ("high", "input at P90", "#c9302c"),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=t[col].to_numpy(dtype=float) - base,
                base=base,
                orientation="h",
                name=label,
                marker_color=color,
                customdata=t[col].to_numpy(dtype=float),
                hovertemplate=f"%{{y}}<br>{label}: ALE %{{customdata:,.4s}} {cur}/yr"
                "<extra></extra>",
            )
        )
    fig.add_vline(x=base, line=dict(color="#333", dash="dot"))
    fig.update_layout(
        **_LAYOUT,
        title=_e(title or "Which estimates move the site's expected annual loss"),
        barmode="overlay",
        xaxis=dict(title=f"site ALE [{cur}/yr]", exponentformat="SI"),
        yaxis=dict(title="uncertain input", automargin=True),
        legend=dict(orientation="h", y=-0.15),
        height=max(320, 40 * len(t) + 160),
    )
    return fig


def convergence_chart(table: pd.DataFrame, currency: str = "", title: str | None = None):
    """ALE, VaR99 and ES99 against the number of trials, with their 95 % intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`riskkit.sensitivity.convergence`: index ``trials``; ``ale``, ``ale_se``,
        ``var``, ``var_lo``, ``var_hi``, ``es``, ``es_se`` [currency/yr].
    currency : str
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
    """
    cur = _e(currency)
    n = table.index.to_numpy(dtype=float)
    fig = make_subplots(rows=1, cols=3, subplot_titles=("ALE", "VaR 99 %", "ES 99 %"))
    series = (
        ("ale", table["ale"] - 1.96 * table["ale_se"], table["ale"] + 1.96 * table["ale_se"]),
        ("var", table["var_lo"], table["var_hi"]),
        ("es", table["es"] - 1.96 * table["es_se"], table["es"] + 1.96 * table["es_se"]),
    )
    for i, (col, lo, hi) in enumerate(series, start=1):
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([n, n[::-1]]),
                y=np.concatenate([hi.to_numpy(dtype=float), lo.to_numpy(dtype=float)[::-1]]),
                fill="toself",
                fillcolor="rgba(74,122,181,0.2)",
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=i == 1,
                name="95 % interval",
            ),
            row=1,
            col=i,
        )
        fig.add_trace(
            go.Scatter(
                x=n,
                y=table[col].to_numpy(dtype=float),
                mode="lines+markers",
                line=dict(color="#4a7ab5"),
                name="estimate",
                showlegend=i == 1,
                hovertemplate=f"%{{x:,}} trials: %{{y:,.4s}} {cur}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(type="log", title="trials", row=1, col=i)
        unit = f"{cur}/yr" if col == "ale" else cur
        fig.update_yaxes(exponentformat="SI", title=f"[{unit}]", row=1, col=i)
    fig.update_layout(
        **_LAYOUT,
        title=_e(title or f"Convergence of the Monte Carlo estimates [{cur}]"),
        legend=dict(orientation="h", y=-0.2),
        height=400,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Attack paths (issue 15)
# --------------------------------------------------------------------------------------------

_PATH_COLORS = (
    "#c9302c",
    "#2a7ab0",
    "#e08a1e",
    "#6a3d9a",
    "#1b9e77",
    "#d6478b",
    "#7a5c2e",
    "#17becf",
)
"""One colour per drawn attack path, in order of risk."""


def _path_xy(site: Site, xy: dict, mids: dict, zones, conduits, shift: float):
    """Points of one attack path: origin, then each conduit's midpoint and the zone entered."""
    xs, ys = [xy[zones[0]][0] + shift], [xy[zones[0]][1] + shift]
    for cid, zid in zip(conduits, zones[1:]):
        mx, my = mids[cid]
        xs += [mx + shift, xy[zid][0] + shift]
        ys += [my + shift, xy[zid][1] + shift]
    return xs, ys


def attack_path_diagram(
    site: Site,
    paths: pd.DataFrame,
    top: int = 6,
    currency: str = "",
    title: str | None = None,
) -> go.Figure:
    """The dominant attack paths drawn on the Purdue zone-and-conduit diagram.

    The zone diagram of :func:`zone_diagram` (zones coloured by kind) with each of the ``top``
    paths carrying the most risk drawn over it, from its origin zone through the midpoints of
    the conduits it crosses to its target; a line's width grows with the path's share of the
    site's path-borne risk, and origin zones are marked. Every site string is escaped.

    Parameters
    ----------
    site : Site
    paths : pandas.DataFrame
        :func:`riskkit.attack_paths`: one row per (scenario, path) with columns ``scenario``,
        ``zones`` (zone ids in order, origin first), ``conduits`` (conduit ids in order),
        ``probability`` [-], ``share`` [-] (of the scenario's success probability),
        ``expected_ale`` [currency/yr] and ``risk_share`` [-] (of the site's path-borne ALE).
    top : int
        Paths drawn, largest ``expected_ale`` first.
    currency : str
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure

    References
    ----------
    .. [1] IEC 62443-3-2:2020, clause 4.4 (ZCR 3: zones and conduits).
    """
    fig = zone_diagram(site, title=title or f"Dominant attack paths, {site.name}")
    if paths is None or paths.empty:
        fig.add_annotation(
            text="no scenario names an origin: no attack paths to draw",
            xref="paper",
            yref="paper",
            x=0.5,
            y=1.02,
            showarrow=False,
            font=dict(color="#555555"),
        )
        return fig
    xy, _ = _layout_zones(site)
    mids = _conduit_mids(site, xy)
    cur = _e(currency)
    df = paths.sort_values("expected_ale", ascending=False, kind="stable").head(top)
    n = len(df)
    for i, (_, row) in enumerate(df.iterrows()):
        share = float(row["risk_share"]) if pd.notna(row["risk_share"]) else 0.0
        xs, ys = _path_xy(site, xy, mids, row["zones"], row["conduits"], 0.025 * (i - (n - 1) / 2))
        route = " > ".join(_e(z) for z in row["zones"])
        via = ", ".join(_e(c) for c in row["conduits"])
        text = (
            f"<b>{_e(row['scenario'])}</b>: {route}<br>via {via}"
            f"<br>P(path open) {float(row['probability']):.3g},"
            f" {float(row['share']):.0%} of the scenario's success"
            f"<br>risk {money(float(row['expected_ale']), cur)}/yr, {share:.0%} of path-borne risk"
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                line=dict(color=_PATH_COLORS[i % len(_PATH_COLORS)], width=2 + 16 * share),
                marker=dict(size=5),
                opacity=0.75,
                name=f"{_e(row['scenario'])}: {route} ({share:.0%})",
                hovertext=[text] * len(xs),
                hoverinfo="text",
            )
        )
    origins = list(dict.fromkeys(z[0] for z in df["zones"]))
    fig.add_trace(
        go.Scatter(
            x=[xy[z][0] - _BOX_W for z in origins],
            y=[xy[z][1] + _BOX_H for z in origins],
            mode="markers+text",
            marker=dict(symbol="star", size=16, color="#222222"),
            text=["origin"] * len(origins),
            textposition="top right",
            hoverinfo="skip",
            name="origin of an attack path",
        )
    )
    total = len(paths)
    if total > n:
        fig.update_layout(
            title=_e(title or f"Dominant attack paths, {site.name}")
            + f" (the top {n} of {total} paths by risk)"
        )
    fig.update_layout(legend=dict(orientation="h", y=-0.04, font=dict(size=10)))
    return fig


def chokepoint_chart(
    table: pd.DataFrame, currency: str = "", top: int = 12, title: str | None = None
) -> go.Figure:
    """Conduits ranked as chokepoints: site ALE removed by raising each one to SL 3 or SL 4.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`riskkit.chokepoints`: indexed by conduit id (or a ``conduit`` column), columns
        ``ale_removed_sl3``, ``ale_removed_sl4`` [currency/yr] and ``path_share`` [-] (share
        of the site's path-borne risk crossing the conduit), in ranking order.
    currency : str
    top : int
        Rows shown.
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
    """
    cur = _e(currency)
    df = table.head(top)
    ids = list(df["conduit"]) if "conduit" in df.columns else list(df.index)
    ids = [_e(i) for i in ids]
    share = df["path_share"].to_numpy(dtype=float) if "path_share" in df else None
    fig = go.Figure()
    for col, label, color in (
        ("ale_removed_sl3", "conduit at SL 3 in the lateral FRs", "#f0ad4e"),
        ("ale_removed_sl4", "conduit at SL 4 in the lateral FRs", STATE_COLORS["plan"]),
    ):
        text = None
        if share is not None and col == "ale_removed_sl4":
            text = [
                ("<1%" if 0 < s < 0.005 else f"{s:.0%}") + " of path risk" if np.isfinite(s) else ""
                for s in share
            ]
        fig.add_trace(
            go.Bar(
                y=ids,
                x=df[col].to_numpy(dtype=float),
                orientation="h",
                name=label,
                marker_color=color,
                text=text,
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{y}}, {label}: removes %{{x:,.4s}} {cur}/yr<extra></extra>",
            )
        )
    vals = df[["ale_removed_sl3", "ale_removed_sl4"]].to_numpy(float).ravel()
    pos = vals[np.isfinite(vals) & (vals > 0)]
    # log scale: the values span orders of magnitude; zeros (nothing removed) show no bar
    span = (
        [math.log10(pos.min()) - 0.3, math.log10(pos.max()) + 0.6] if pos.size else [0.0, 1.0]
    )
    suffix = f" (the top {len(df)} of {len(table)} conduits)" if len(table) > len(df) else ""
    fig.update_layout(
        **_LAYOUT,
        title=_e(title or "Chokepoints: site ALE removed by strengthening one conduit") + suffix,
        barmode="group",
        xaxis=dict(
            title=f"site ALE removed [{cur}/yr] (log scale; no bar: nothing removed)",
            type="log",
            exponentformat="SI",
            range=span,
        ),
        yaxis=dict(autorange="reversed", title="conduit", automargin=True),
        height=max(340, 44 * len(ids) + 150),
        legend=dict(orientation="h", y=-0.12),
    )
    return fig
