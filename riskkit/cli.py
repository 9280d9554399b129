"""The ``riskkit`` command. Thin: parses options, calls the library, prints.

Every command exits 0 on success, 1 when the input is wrong (a :class:`SiteError`, printed as a
list of problems, never a traceback) and 2 on usage errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .io import load_site
from .site import SiteError

__all__ = ["main", "cli"]


def _fail_site(err: SiteError, path) -> None:
    click.echo(f"{path}: {len(err.problems)} problem(s)", err=True)
    for p in err.problems:
        click.echo(f"  - {p}", err=True)
    sys.exit(1)


def _load(path):
    """Load a site or exit 1 with its problems."""
    try:
        return load_site(path)
    except SiteError as e:
        _fail_site(e, path)
    except FileNotFoundError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="riskkit")
def cli():
    """riskkit: quantitative IEC 62443 risk assessment of industrial control systems."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--checks", is_flag=True, help="Also run the zone-model checks (lint).")
def validate(paths, checks):
    """Check site files and print an inventory, or every problem found.

    PATHS are site.yaml files, site folders or .xlsx workbooks. Exit 0 when all are valid,
    1 otherwise.
    """
    failed = False
    for path in paths:
        try:
            site = load_site(path)
        except SiteError as e:
            failed = True
            click.echo(f"{path}: INVALID, {len(e.problems)} problem(s)")
            for p in e.problems:
                click.echo(f"  - {p}")
            continue
        except FileNotFoundError as e:
            failed = True
            click.echo(f"{path}: {e}")
            continue
        inv = site.inventory()
        n_cand = len(site.candidates)
        click.echo(
            f"{path}: OK  {site.name} ({site.currency}); "
            f"{inv['zones']} zones, {inv['conduits']} conduits, {inv['threat_actors']} actors, "
            f"{inv['scenarios']} scenarios, {inv['countermeasures']} countermeasures "
            f"({len(site.implemented)} implemented, {n_cand} candidates)"
        )
        if checks:
            from .levels import model_checks

            findings = model_checks(site)
            if findings.empty:
                click.echo("  checks: no findings")
            for _, f in findings.iterrows():
                click.echo(f"  [{f['severity']}] {f['rule']}: {f['subject']}: {f['message']}")
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("site_path", type=click.Path(exists=True))
@click.argument("out", type=click.Path())
def export(site_path, out):
    """Write SITE_PATH as an Excel workbook OUT (one sheet per table; never overwrites)."""
    from .io import export_xlsx

    site = _load(site_path)
    if Path(out).exists():
        click.echo(f"error: {out} exists; choose a new file name", err=True)
        sys.exit(1)
    export_xlsx(site, out)
    click.echo(f"wrote {out}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="riskkit")


if __name__ == "__main__":
    main()
