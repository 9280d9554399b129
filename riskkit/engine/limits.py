"""Site values the engine cannot simulate, refused as problems that name the field.

A rate that implies millions of events a year, or more trials than the machine holds, would
otherwise end in numpy's memory errors or an overflow; these checks run before any drawing.
"""

from __future__ import annotations

import math
import os

from ..rules import (
    base_rate_mean,
)
from ..site import HARM_CATEGORIES, Problem, Site, SiteError

MAX_EVENTS_PER_YEAR = 1e7
"""Most successful events of one scenario in one simulated year [events/yr].

A rate above it (one success every three seconds) is a unit or typing error in the site, and
its per-event arrays would not fit in memory; the run stops with a problem naming the field.
"""


# --------------------------------------------------------------------------------------------
# Site values the engine cannot simulate: problems naming the field, not numpy's errors
# --------------------------------------------------------------------------------------------


def _rate_problem(site: Site, sid: str, what: str) -> SiteError:
    """A problem on the field that sets scenario ``sid``'s attempts: its rate or its actor's."""
    s = site.scenario(sid)
    if s.rate is not None:
        record, fld, via = sid, "rate", ""
    else:
        record, fld = s.actor, "attempt_rate"
        via = f" (scenario {sid} takes rate_share {s.rate_share:g} of it)"
    msg = (
        f"{what}{via}: more than {MAX_EVENTS_PER_YEAR:.0e} successful events a year cannot be"
        " simulated"
    )
    hint = "check the unit: rates are events per year"
    return SiteError([Problem(site.source or site.name, record, fld, msg, hint)])


def _check_rates(site: Site) -> None:
    """Refuse a scenario whose mean unmitigated event rate is not finite or too large."""
    for s in site.scenarios:
        lam = base_rate_mean(site, s)
        if not (math.isfinite(lam) and lam <= MAX_EVENTS_PER_YEAR):
            raise _rate_problem(site, s.id, f"mean event rate {lam:.3g} [events/yr]")


def _available_memory() -> float:
    """Physical memory of the machine [bytes] (infinite where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not on every platform
        return math.inf


def _check_memory(
    site: Site,
    trials: int,
    states: int,
    from_site: bool,
    kept: int | None = None,
    group: int = 1,
) -> None:
    """Refuse a run whose result tables alone exceed the machine's memory.

    A run holds, per state, the losses of every trial for each zone and the site (float64),
    the columns of the ``kept`` scenarios (loss float64 and int32 harm counts per category)
    and, while it draws them, one group of ``group`` scenario columns (``kept=None``: every
    scenario kept, as :func:`simulate` did before its results were streamed).

    Raises a :class:`SiteError` on ``model.trials`` when the trials come from the site file,
    else a :class:`MemoryError` whose message says how much the tables need.
    """
    n = len(site.scenarios)
    cell = 8 + 4 * len(HARM_CATEGORIES)  # one trial of one scenario: loss and harm counts
    kept = n if kept is None else kept
    per_trial = (len(site.zones) + 1) * 8 + (kept + max(group, 1)) * cell
    need = float(trials) * states * per_trial
    have = _available_memory()
    if need <= have:
        return
    msg = (
        f"not enough memory for {trials:,} trials: the tables of {len(site.zones)} zones,"
        f" the site and {kept} kept of {n} scenarios need {need / 1e9:,.3g} GB, the machine"
        f" has {have / 1e9:,.3g} GB"
    )
    if from_site:
        problem = Problem(site.source or site.name, "model", "trials", msg, "use fewer trials")
        raise SiteError([problem])
    raise MemoryError(msg)
