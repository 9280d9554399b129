"""Target levels and gaps at 1,000 and 5,000 scenarios (issue 16: linear, 5,000 under 2 s).

Times ``target_levels`` + ``gaps`` for the ``rrf`` and ``minimal`` methods on generated sites
(``riskkit.synthetic.synthetic_site(n, 40, seed=0)``), in CPU seconds of this process (the
machine may be shared), against a baseline run in the same process: the closed-form
``expected_losses`` of the same site, the least any level method must do.

    python benchmarks/bench_levels.py
"""

from __future__ import annotations

import time

from riskkit import expected_losses, target_levels
from riskkit.levels import gaps
from riskkit.synthetic import synthetic_site


def cpu(fn, *args, **kwargs) -> float:
    """CPU seconds of one call of ``fn(*args, **kwargs)``."""
    t0 = time.process_time()
    fn(*args, **kwargs)
    return time.process_time() - t0


def levels_and_gaps(site, method: str) -> None:
    """What ``riskkit levels`` computes: SL-T and the gaps against it."""
    gaps(site, target_levels(site, method=method))


def main() -> None:
    sites = {n: synthetic_site(n, 40, seed=0) for n in (1000, 5000)}
    for method in ("rrf", "minimal"):
        got = {}
        for n, site in sites.items():
            base = cpu(expected_losses, site)
            t = cpu(levels_and_gaps, site, method)
            got[n] = t
            print(
                f"{method:8s} {n:5d} scenarios: {t:6.2f} s CPU"
                f" ({t / base:5.1f}x the closed-form expected losses, {base:.2f} s)"
            )
        ratio = got[5000] / got[1000]
        print(f"{method:8s} growth 1,000 -> 5,000 scenarios: {ratio:.1f}x (5 is linear)")


if __name__ == "__main__":
    main()
