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


def _check_memory(site: Site, trials: int, states: int, from_site: bool) -> None:
    """Refuse a run whose result tables alone exceed the machine's memory.

    Raises a :class:`SiteError` on ``model.trials`` when the trials come from the site file,
    else a :class:`MemoryError` whose message says how much the tables need.
    """
    n = len(site.scenarios)
    # losses (float64) and harm counts (int32 per harm category) per trial and scenario
    need = float(trials) * states * max(n, 1) * (8 + 4 * len(HARM_CATEGORIES))
    have = _available_memory()
    if need <= have:
        return
    msg = (
        f"not enough memory for {trials:,} trials: the tables of {n} scenarios need"
        f" {need / 1e9:,.3g} GB, the machine has {have / 1e9:,.3g} GB"
    )
    if from_site:
        problem = Problem(site.source or site.name, "model", "trials", msg, "use fewer trials")
        raise SiteError([problem])
    raise MemoryError(msg)
