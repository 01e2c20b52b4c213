"""The benchmark's command line: the whole table (`--quick` for CI), or the start-up figure alone."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from .figures import analytics_rows, report_rows, run, scale_merge_rows
from .measure import Row, machine, render, stamped
from .startup import startup_rows

F = TypeVar("F", bound=Callable[..., Any])


def json_option(text: str) -> Callable[[F], F]:
    """`--json FILE`, the same option on every command of the benchmark."""
    return click.option(
        "--json",
        "json_out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=text,
    )


def write_json(path: Path | None, head: dict[str, Any], rows: list[Row]) -> None:
    """The table as JSON (`head`, then every row with its detail), when a file was asked for."""
    if path is not None:
        table = head | {"rows": [asdict(r) for r in rows]}
        path.write_text(json.dumps(table, ensure_ascii=False, indent=2), encoding="utf-8")


def startup(db: Path, runs: int = 5) -> Row:
    """Start-up of the worker's TUI on one database against a bare Textual app."""
    return startup_rows(db, None, runs)[0]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.option("--quick", is_flag=True, help="small data set for CI (under 2 minutes)")
@click.option(
    "--scale",
    type=float,
    default=None,
    help="scale of the district data set (default 1.0, --quick 0.03)",
)
@json_option("write the table as JSON")
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="keep the data here (default: a temporary folder)",
)
@click.pass_context
def main(
    ctx: click.Context, quick: bool, scale: float | None, json_out: Path | None, work: Path | None
) -> None:
    """fieldapp benchmarks: medians of several runs, ratios to baselines measured in the same run."""
    if ctx.invoked_subcommand is not None:
        return
    _table(
        work,
        lambda folder: run(
            folder, quick=quick, scale=scale, echo=lambda m: click.echo(m, err=True)
        ),
        {"quick": quick},
        json_out,
    )


def _table(
    work: Path | None,
    measure: Callable[[Path], list[Row]],
    head: dict[str, Any],
    json_out: Path | None,
) -> None:
    """Measure in `work` (or a temporary folder, removed after), then print the table and the
    machine (with `head` and the seconds it took) and write them as JSON when asked."""
    started = time.perf_counter()
    tmp = None if work is not None else Path(tempfile.mkdtemp(prefix="fieldapp-bench-"))
    folder = work or tmp
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        rows = measure(folder)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    info = machine() | head | {"seconds": round(time.perf_counter() - started)}
    click.echo(render(rows))
    click.echo(f"machine: {info}")
    write_json(json_out, {"machine": info}, rows)


@main.command("startup")
@click.option(
    "--db",
    "dbs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
    help="a device database (the worker's TUI)",
)
@click.option(
    "--district",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="a district database (the supervisor's TUI)",
)
@click.option("--runs", default=5, show_default=True, type=click.IntRange(1, 50))
@json_option("write the rows with their breakdown by phase as JSON")
def startup_cmd(
    dbs: tuple[Path, ...], district: Path | None, runs: int, json_out: Path | None
) -> None:
    """Start-up of the worker's TUI on each database (and the supervisor's on `--district`)
    against a bare Textual app, with each one's breakdown by phase."""
    rows: list[Row] = []
    for i, db in enumerate(dbs):
        rows += startup_rows(db, district if i == 0 else None, runs)
    for r in rows:
        click.echo(
            f"{r.figure}: median {r.median} s (min {r.min}, max {r.max}); ratio {r.ratio}"
            f" ({r.goal}: {'met' if r.met else 'NOT met'})\n    {r.note}"
        )
        detail = r.detail or {}
        bare = detail.get("bare_phases", {})
        for name, d in detail.get("phases", {}).items():
            b = bare.get(name)
            beside = f"   bare {b['wall_ms']:>8.1f} ms wall" if b else ""
            click.echo(
                f"    {name:<14} {d['wall_ms']:>8.1f} ms wall {d['cpu_ms']:>8.1f} ms CPU{beside}"
            )
    write_json(json_out, {"machine": machine()}, rows)


@main.command("district")
@click.option(
    "--db",
    "district",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="a merged district database (e.g. the one --work keeps, at any scale)",
)
@click.option("--year", type=int, default=None, help="the report's year (default: this year)")
@click.option("--runs", default=3, show_default=True, type=click.IntRange(1, 20))
@json_option("write the rows as JSON")
def district_cmd(district: Path, year: int | None, runs: int, json_out: Path | None) -> None:
    """The report (kept and --fresh) and the analytics export with DuckDB's indicator SQL on an
    existing district database: the figures of a large district without making the data again."""
    from datetime import date

    y = year or date.today().year
    rows = report_rows(district, y) + analytics_rows(district, y, runs)
    click.echo(render(rows))
    write_json(json_out, {"machine": machine(), "district": str(district)}, rows)


@main.command("merge")
@click.option("--scale", type=float, default=4.0, show_default=True, help="the district's size")
@click.option("--runs", default=1, show_default=True, type=click.IntRange(1, 5))
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="keep the data here (default: a temporary folder)",
)
@json_option("write the rows as JSON")
def merge_cmd(scale: float, runs: int, work: Path | None, json_out: Path | None) -> None:
    """The merge alone at a district of any size (scale 4: about 1.6 M versions, a county-level
    division such as 兴化市), with the reader process and in one process, against the raw-SQL
    ceiling: how the cost of a version grows with the district."""
    _table(
        work,
        lambda folder: scale_merge_rows(
            folder, scale, runs, lambda m: click.echo(stamped(m), err=True)
        ),
        {"scale": scale},
        json_out,
    )
