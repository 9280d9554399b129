"""Terminal progress of a batch: an overall bar, a live line per running site, a line per end."""

from __future__ import annotations


class BatchProgress:
    """A ``progress`` callback for :func:`riskkit.batch.run_batch` drawing with rich on stderr.

    Use as a context manager; on a terminal it shows an overall bar and one live line per
    running site (its notebook and cell, on the local pool), and in every case prints one line
    per finished site: status, site id, duration and output folder or error.
    """

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.overall = None
        self.sites: dict[str, int] = {}

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()
        return False

    def _site(self, site_id: str, text: str) -> None:
        tid = self.sites.get(site_id)
        if tid is None:
            self.sites[site_id] = self.bar.add_task(f"  {site_id}: {text}", total=None)
        else:
            self.bar.update(tid, description=f"  {site_id}: {text}")

    def __call__(self, event: str, **info) -> None:
        """Handle one event of :func:`riskkit.batch.run_batch` (see its ``progress``)."""
        if event == "start":
            self.console.print(
                f"batch of {info['total']} site(s) into {info['out']}: {info['to_run']} to run"
            )
            self.overall = self.bar.add_task("sites", total=info["total"])
        elif event == "site_start":
            where = "queued on the cluster" if info.get("where") == "cluster" else "starting"
            self._site(info["site_id"], where)
        elif event == "site_notebook":
            self._site(info["site_id"], f"[{info['index'] + 1}/{info['count']}] {info['name']}")
        elif event == "site_cell":
            if info["site_id"] in self.sites:
                self._site(info["site_id"], f"{info['name']} cell {info['cell']}/{info['cells']}")
        elif event == "site_step":
            self._site(info["site_id"], info["name"])
        elif event == "site_done":
            r = info["row"]
            tid = self.sites.pop(r["site_id"], None)
            if tid is not None:
                self.bar.remove_task(tid)
            if self.overall is not None:
                self.bar.advance(self.overall)
            where = r["output"] or "-"
            line = f"  {r['status']:<7} {r['site_id']:<24} {r['duration_s']:7.1f} s  {where}"
            self.console.print(line, markup=False)
            if r["status"] == "failed" and r["error"]:
                first = r["error"].strip().splitlines()[0]
                self.console.print(f"          {first}", markup=False)
