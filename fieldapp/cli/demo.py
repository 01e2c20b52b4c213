"""The `demo` command: a deterministic demo data set, one community's database or the whole district's."""

from __future__ import annotations

import sys
import time
from datetime import date, datetime
from pathlib import Path

import click

from fieldapp import paths
from fieldapp.cli import secure
from fieldapp.cli.common import CONTEXT, db_option, print_counts


@click.command(context_settings=CONTEXT)
@db_option()
@click.option(
    "--district",
    "district_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="为全区每个社区生成一个设备数据库，写入此目录 (one device database per community, into DIR).",
)
@click.option(
    "--community",
    default=None,
    help="社区代码 (community code; default: 321202001901, a sample community).",
)
@click.option(
    "--seed",
    default=1,
    show_default=True,
    type=int,
    help="随机种子：同一种子生成同样的数据 (same seed, same data).",
)
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="数据截止日期 (last day of the year of data; default: today).",
)
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.001, 10),
    help="规模系数 (scale of the data set).",
)
@click.option(
    "--elders",
    default=None,
    type=click.IntRange(1),
    help="老人数，覆盖按人口计算的数 (number of elders; single community only).",
)
@click.option(
    "--jobs",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="并行进程数 (processes, --district only).",
)
@click.option(
    "--division",
    default=None,
    expose_value=False,  # read from ctx.meta (the command keeps ≤ 8 arguments)
    callback=lambda ctx, _param, value: ctx.meta.__setitem__("division", value),
    help="与 --district 同用：泰州市的区县代码，生成示例区 (with --district: a sample district of this division).",
)
def demo(
    db_path: Path | None,
    district_dir: Path | None,
    community: str | None,
    seed: int,
    today: datetime | None,
    scale: float,
    elders: int | None,
    jobs: int,
) -> None:
    """生成演示数据 (make a deterministic demo data set: a community's year of work, or the whole district)."""
    day = today.date() if today else date.today()
    if day > date.today():
        raise click.BadParameter("不能晚于今天 (must not be after today)", param_hint="--today")
    started = time.perf_counter()
    secure.demo_passphrase()  # a fixed, printed passphrase unless FIELDAPP_PASSPHRASE is set
    if district_dir is not None:
        if db_path or community or elders:
            raise click.UsageError(
                "--district 不能与 --db/--community/--elders 同用 (--district makes one database per community)"
            )
        division = click.get_current_context().meta.get("division")
        if division:
            _division_seed(district_dir, str(division))
        _district(district_dir, seed=seed, day=day, scale=scale, jobs=jobs)
    else:
        _community(db_path, community, seed=seed, day=day, scale=scale, elders=elders)
    click.echo(f"用时 {time.perf_counter() - started:.1f} 秒 (seconds)")


def _division_seed(out_dir: Path, division: str) -> None:
    from fieldapp.city.divisions import use_division_seed

    try:
        seed = use_division_seed(out_dir, division)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"示例区的参考数据 {seed}（区级数据库初始化时设 FIELDAPP_SEED={seed}）")


def _district(out_dir: Path, *, seed: int, day: date, scale: float, jobs: int) -> None:
    from fieldapp.demo import generate_district

    existing = sorted(out_dir.glob("*.db")) if out_dir.exists() else []
    if existing:
        raise click.ClickException(
            f"{out_dir} 中已有数据库文件，请换一个空目录 (the folder already has databases: use an empty one)"
        )
    stats = generate_district(
        out_dir,
        seed=seed,
        today=day,
        scale=scale,
        jobs=jobs,
        progress=lambda d, t: (
            click.echo(f"\r{d}/{t} 个社区", nl=False, err=True) if sys.stderr.isatty() else None
        ),
    )
    totals: dict[str, int] = {}
    for s in stats:
        for k, v in s.counts.items():
            totals[k] = totals.get(k, 0) + v
    click.echo(f"\n{len(stats)} 个社区数据库 → {out_dir}")
    print_counts(totals, sum(s.versions for s in stats))


def _community(
    db_path: Path | None,
    community: str | None,
    *,
    seed: int,
    day: date,
    scale: float,
    elders: int | None,
) -> None:
    from fieldapp.demo import DEFAULT_COMMUNITY, generate_community

    path = db_path or paths.demo_db()
    if path.exists():
        raise click.ClickException(
            f"{path} 已存在；演示数据只写入新文件 (exists: demo data only goes into a new file)"
        )
    try:
        one = generate_community(
            path,
            community_code=community or DEFAULT_COMMUNITY,
            seed=seed,
            today=day,
            scale=scale,
            elders=elders,
        )
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"演示数据库 {path}（社区 {one.community_code}）")
    print_counts(one.counts, one.versions)
