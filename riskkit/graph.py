"""The zone-and-conduit graph: simple paths from an origin zone to a target zone.

Pure functions on identifiers, with no knowledge of the site model, so that the site's
validation (:mod:`riskkit.site`) and the model's rules (:mod:`riskkit.rules`) can share them.
A conduit is an undirected edge between two zones (IEC 62443-3-2 models a conduit as the
channel between zones; the direction of an attack is the direction it is crossed in).

References
----------
.. [1] IEC 62443-3-2:2020, clause 4.4 (ZCR 3: partition the SUC into zones and conduits).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Stage", "Path", "TooManyPaths", "MAX_PATHS", "simple_paths", "reachable"]

Stage = tuple[str, str]
"""One stage of an attack path: (conduit crossed, zone entered)."""

Path = tuple[Stage, ...]
"""A simple path: its stages in order; the last stage enters the target zone."""

MAX_PATHS = 10_000
"""Most simple paths :func:`simple_paths` enumerates before it refuses."""


class TooManyPaths(ValueError):
    """The graph has more simple paths between two zones than the limit allows."""


def _adjacency(edges: Iterable[tuple[str, str, str]]) -> dict[str, list[tuple[str, str]]]:
    adj: dict[str, list[tuple[str, str]]] = {}
    for conduit, a, b in edges:
        adj.setdefault(a, []).append((conduit, b))
        if b != a:
            adj.setdefault(b, []).append((conduit, a))
    return adj


def simple_paths(
    edges: Iterable[tuple[str, str, str]],
    origin: str,
    target: str,
    max_paths: int = MAX_PATHS,
) -> list[Path]:
    """Every simple path from ``origin`` to ``target`` over the conduits.

    A path visits each zone at most once. Two conduits joining the same pair of zones give
    two paths. The order is deterministic: depth first, neighbours in the order the edges
    are given.

    Parameters
    ----------
    edges : iterable of (str, str, str)
        ``(conduit id, zone a, zone b)`` per conduit; undirected.
    origin, target : str
        Zone ids. ``origin == target`` gives no path (the actor is already inside: no
        lateral movement).
    max_paths : int
        Refuse graphs with more simple paths than this.

    Returns
    -------
    list of Path
        Each path a tuple of ``(conduit, zone entered)`` stages ending in ``target``.

    Raises
    ------
    TooManyPaths
        When more than ``max_paths`` paths exist.
    """
    if origin == target:
        return []
    adj = _adjacency(edges)
    out: list[Path] = []
    visited = {origin}
    stack: list[Stage] = []  # the stages of the current partial path
    frames = [iter(adj.get(origin, ()))]  # depth-first, without recursion
    while frames:
        step = next(frames[-1], None)
        if step is None:
            frames.pop()
            if stack:
                visited.discard(stack.pop()[1])
            continue
        conduit, nxt = step
        if nxt in visited:
            continue
        if nxt == target:
            out.append((*stack, (conduit, nxt)))
            if len(out) > max_paths:
                raise TooManyPaths(
                    f"more than {max_paths} simple paths lead from {origin} to {target}"
                )
            continue
        visited.add(nxt)
        stack.append((conduit, nxt))
        frames.append(iter(adj.get(nxt, ())))
    return out


def reachable(edges: Iterable[tuple[str, str, str]], origin: str) -> set[str]:
    """Zones reachable from ``origin`` over the conduits (``origin`` included)."""
    adj = _adjacency(edges)
    seen = {origin}
    todo = [origin]
    while todo:
        z = todo.pop()
        for _, nxt in adj.get(z, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
