"""The `fieldapp` command: with no subcommand it opens the worker's TUI; subcommands do the same jobs from a shell."""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import click

from fieldapp import __version__, paths

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="数据库文件 (database file; default: $FIELDAPP_DB or the per-user data dir).",
)


def _db(db_path: Path | None) -> Path:
    return db_path or paths.default_db()


def _open(db_path: Path | None, *, create: bool = False) -> Any:
    from fieldapp import db
    from fieldapp.store import Store

    path = _db(db_path)
    try:
        return Store.open(path, create=create)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "--version", "-V", prog_name="fieldapp")
@db_option
@click.option(
    "--demo",
    is_flag=True,
    help="打开演示数据库（首次使用时生成）(open the demo database, made on first use).",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    envvar="FIELDAPP_LANG",
    default="zh",
    show_default=True,
    help="界面语言 (UI language).",
)
@click.pass_context
def main(ctx: click.Context, db_path: Path | None, demo: bool, lang: str) -> None:
    """fieldapp：海陵区居家养老服务记录（离线）。

    Offline records of home visits, assessments, retrofits, meal counts and volunteer events
    for elderly-care community workers; monthly sync bundles to the district.
    Without a command, opens the worker's app (TUI).
    """
    ctx.ensure_object(dict)
    ctx.obj["lang"] = lang
    if ctx.invoked_subcommand is not None:
        return
    path = _db(db_path)
    if demo:
        path = paths.demo_db() if db_path is None else path
        if not path.exists():
            from fieldapp.demo import generate_community

            click.echo(f"正在生成演示数据库 {path} … (making the demo database)", err=True)
            generate_community(path)
    try:
        from fieldapp.tui.app import run
    except ModuleNotFoundError:
        raise click.ClickException(
            "界面（TUI）尚未完成；请先使用子命令，见 fieldapp -h。(the TUI is not built yet: see `fieldapp -h` for the commands)"
        ) from None
    run(path, lang=lang)


@main.command(context_settings=CONTEXT)
@db_option
@click.option(
    "--street",
    required=True,
    help="街道/镇代码，9位 (street or town code, 9 digits), e.g. 321202001.",
)
@click.option("--community", required=True, help="社区/村代码，12位 (community code, 12 digits).")
@click.option("--worker", required=True, help="工作人员姓名 (the worker's name).")
@click.option("--label", default=None, help="设备名称 (device label; default: community-worker).")
@click.option(
    "--district-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="区级公钥文件，同步包将加密给它 (the district's public key file; bundles are sealed to it).",
)
def init(
    db_path: Path | None,
    street: str,
    community: str,
    worker: str,
    label: str | None,
    district_key: Path | None,
) -> None:
    """设置本设备：街道、社区、工作人员 (set up this device: database, device id and signing key)."""
    from fieldapp.store import StoreError
    from fieldapp import crypto

    with _open(db_path, create=True) as store:
        try:
            public = crypto.load_district_public(district_key) if district_key else None
            dev = store.setup_device(
                street_code=street, community_code=community, worker=worker, label=label
            )
            if public:
                store.install_district_key(*public)
        except (StoreError, crypto.KeyError_) as e:
            raise click.ClickException(str(e)) from None
        fp = crypto.fingerprint(crypto.unb64(store.keys()["sign_public"]))
    click.echo(f"已设置设备 {dev.label}（{dev.device_id}），数据库 {_db(db_path)}")
    click.echo(f"本设备签名密钥指纹 (device key fingerprint): {fp}")
    if public:
        click.echo(f"区级公钥指纹 (district key fingerprint): {public[1]}")
    else:
        click.echo(
            "尚未安装区级公钥：导出前请运行 fieldapp device-key install 公钥文件 (no district key yet)"
        )


@main.group("device-key", context_settings=CONTEXT)
def device_key() -> None:
    """本设备的签名密钥与区级公钥 (this device's signing key and the district's public key)."""


@device_key.command("show", context_settings=CONTEXT)
@db_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="把设备公钥写入文件，交给区级登记 (write the device public key to a file for enrolment).",
)
def device_key_show(db_path: Path | None, out_file: Path | None) -> None:
    """显示设备密钥指纹，可导出公钥文件 (show this device's key fingerprint; export its public key file)."""
    from fieldapp import crypto

    with _open(db_path) as store:
        dev, keys = store.device(), store.keys()
        if dev is None or not keys.get("sign_public"):
            raise click.ClickException("本设备尚未设置 (device not set up: run `fieldapp init`)")
        click.echo(f"设备 device {dev.device_id}  {dev.label}")
        click.echo(
            f"签名密钥指纹 key fingerprint: {crypto.fingerprint(crypto.unb64(keys['sign_public']))}"
        )
        click.echo(
            f"区级公钥指纹 district key: {keys.get('district_fingerprint') or '未安装 (not installed)'}"
        )
        if out_file:
            crypto.device_public_file(out_file, dev.device_id, dev.label, keys["sign_public"])
            click.echo(f"已写入 {out_file}")


@device_key.command("install", context_settings=CONTEXT)
@db_option
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def device_key_install(db_path: Path | None, public_key_file: Path) -> None:
    """安装区级公钥（或轮换后换新） (install the district's public key, or the new one after a rotation)."""
    from fieldapp.store import StoreError
    from fieldapp import crypto

    with _open(db_path) as store:
        try:
            public, fp = crypto.load_district_public(public_key_file)
            store.install_district_key(public, fp)
        except (StoreError, crypto.KeyError_) as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已安装区级公钥，指纹 {fp}（请与区级管理员核对）")


@main.command(context_settings=CONTEXT)
@db_option
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
def demo(
    db_path: Path | None,
    district_dir: Path | None,
    community: str | None,
    seed: int,
    today: Any,
    scale: float,
    elders: int | None,
    jobs: int,
) -> None:
    """生成演示数据 (make a deterministic demo data set: a community's year of work, or the whole district)."""
    from fieldapp.demo import DEFAULT_COMMUNITY, generate_community, generate_district

    day: date = today.date() if today else date.today()
    if day > date.today():
        raise click.BadParameter("不能晚于今天 (must not be after today)", param_hint="--today")
    started = time.perf_counter()
    if district_dir is not None:
        if db_path or community or elders:
            raise click.UsageError(
                "--district 不能与 --db/--community/--elders 同用 (--district makes one database per community)"
            )
        existing = sorted(district_dir.glob("*.db")) if district_dir.exists() else []
        if existing:
            raise click.ClickException(
                f"{district_dir} 中已有数据库文件，请换一个空目录 (the folder already has databases: use an empty one)"
            )
        stats = generate_district(
            district_dir,
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
        versions = sum(s.versions for s in stats)
        click.echo(f"\n{len(stats)} 个社区数据库 → {district_dir}")
        _print_counts(totals, versions)
    else:
        path = _db(db_path) if db_path else (paths.demo_db())
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
        _print_counts(one.counts, one.versions)
    click.echo(f"用时 {time.perf_counter() - started:.1f} 秒 (seconds)")


def _print_counts(counts: dict[str, int], versions: int) -> None:
    from rich.cells import cell_len

    from fieldapp.models import MODELS

    def pad(text: str, width: int) -> str:  # Chinese characters are two cells wide
        return text + " " * max(0, width - cell_len(text))

    for kind, n in counts.items():
        label = MODELS[kind].LABEL
        click.echo(f"  {pad(label[0], 14)}{label[1]:<24}{n:>9,}")
    click.echo(f"  {pad('版本', 14)}{'versions':<24}{versions:>9,}")


@main.command(context_settings=CONTEXT)
@db_option
def status(db_path: Path | None) -> None:
    """显示设备与各类记录数 (show the device and the number of records of each kind)."""
    with _open(db_path) as store:
        dev = store.device()
        if dev:
            click.echo(
                f"设备 device: {dev.label} {dev.device_id} 社区 {dev.community_code} 工作人员 {dev.worker}"
            )
        else:
            click.echo("设备尚未设置 (device not set up: run `fieldapp init`)")
        counts = store.counts()
        versions = counts.pop("versions")
        _print_counts(counts, versions)


@main.command(context_settings=CONTEXT)
@db_option
@click.option(
    "--period",
    default=None,
    help="所属月份 YYYY-MM (the month the bundle is for; default: this month).",
)
@click.option(
    "--full",
    is_flag=True,
    help="重新导出全部记录 (export every version again; merging is idempotent).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="写入的文件夹，如U盘 (folder to write to, e.g. a USB stick).",
)
@click.option(
    "--allow-v1",
    is_flag=True,
    help="没有区级公钥时导出未加密的 v1 包 (write an unsigned, unencrypted format 1 bundle).",
)
def export(
    db_path: Path | None, period: str | None, full: bool, out_dir: Path, allow_v1: bool
) -> None:
    """导出同步包 (write this month's sync bundle: every version since the last export, signed and sealed)."""
    from fieldapp.store import StoreError
    from fieldapp.sync.bundle import BundleError, Manifest
    from fieldapp.sync.export import export as do_export

    if period is not None:
        try:
            Manifest._period(period)
        except ValueError:
            raise click.BadParameter(
                "须为 YYYY-MM (must be YYYY-MM)", param_hint="--period"
            ) from None
    with _open(db_path) as store:
        bar = _progress_bar("导出 exporting")
        try:
            result = do_export(
                store, out_dir, period=period, full=full, progress=bar, allow_v1=allow_v1
            )
        except (StoreError, BundleError) as e:
            raise click.ClickException(str(e)) from None
        finally:
            bar(None, None)
    counts = "，".join(f"{k} {v}" for k, v in result.counts.items())
    click.echo(
        f"已导出 {result.path}（第 {result.seq} 个，{result.versions} 个版本：{counts}）已校验 OK"
    )


@main.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--db",
    "db_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="区级数据库：同时核对设备登记（只读） (district database: check the enrolment too; read only).",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="区级私钥：解密并逐条校验 (district private key: decrypt and check every version).",
)
def verify(files: tuple[Path, ...], db_path: Path | None, key_file: Path | None) -> None:
    """校验同步包，不改动任何数据库 (check bundles without changing any database; exit 1 if any is bad)."""
    import sqlite3

    from fieldapp.sync.bundle import verify as do_verify
    from fieldapp.sync.merge import bundle_files
    from fieldapp.text import clean

    enrolled = None
    if db_path is not None:
        ro = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        enrolled = {
            r[0]: (r[1], r[2])
            for r in ro.execute("SELECT device_id, public_key, revoked_at FROM enrolled_devices")
        }
        ro.close()
    key = _district_key(key_file) if key_file else None
    bad = 0
    for path in bundle_files(files):
        r = do_verify(path, enrolled=enrolled, district_key=key)
        if r.ok:
            n = sum(r.counts.values())
            fmt = r.manifest.format_version if r.manifest else "?"
            seq = r.manifest.seq if r.manifest else "?"
            click.echo(f"OK     {path.name}  (format {fmt}, {n} versions, seq {seq}) {r.signature}")
        else:
            bad += 1
            click.echo(f"无效   {clean(path.name)}: {r.problem}")
    if bad:
        sys.exit(1)


@main.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="区级数据库 (the district database).",
)
@click.option("--dry-run", is_flag=True, help="只检查，不写入 (check everything, write nothing).")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="跳过不合格的记录，合并其余的 (merge the valid versions, keep the rejected ones with reasons).",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="区级私钥文件；口令取自 FIELDAPP_KEY_PASSPHRASE 或提示输入 (district private key; passphrase from env or prompt).",
)
@click.option(
    "--allow-v1",
    is_flag=True,
    help="也接受未签名、未加密的 v1 包 (also accept unsigned, unencrypted format 1 bundles).",
)
def merge(
    files: tuple[Path, ...],
    db_path: Path,
    dry_run: bool,
    skip_invalid: bool,
    key_file: Path | None,
    allow_v1: bool,
) -> None:
    """合并同步包到区级数据库 (merge bundles into the district database, each all or nothing).

    Exit code 0 when every bundle merged or was already merged, 1 otherwise.
    """
    from fieldapp.sync.merge import bundle_files, gaps_text, merge_files, missing_bundles
    from fieldapp.text import clean

    paths = bundle_files(files)
    if not paths:
        raise click.ClickException("没有找到 .fieldbundle 文件 (no .fieldbundle files found)")
    with _open(db_path) as store:
        bar = _progress_bar("合并 merging")
        totals: dict[str, dict[str, int]] = {}

        def line(r: Any) -> None:
            for kind, k in r.kinds.items():
                t = totals.setdefault(
                    kind, {"new": 0, "updated": 0, "unchanged": 0, "conflicts": 0, "rejected": 0}
                )
                for f in t:
                    t[f] += getattr(k, f)
            word = {
                "merged": "已合并",
                "already": "已合并过",
                "invalid": "无效",
                "checked": "检查通过",
                "busy": "未合并",
            }[r.status]
            extra = (
                f"：{r.reason}"
                if r.reason
                else f"（{r.versions} 个新版本，{r.seconds:.1f} 秒）"
                if r.status == "merged"
                else ""
            )
            click.echo(f"{word:<6} {clean(r.path.name)}{extra}")
            for no, rid, reason in r.rejected:
                click.echo(f"       拒收 rejected line {no} record {rid}: {reason}")
            if r.clock_suspect:
                click.echo(
                    f"       时钟可疑 clock_suspect: {r.clock_suspect} 个版本的时间超前一天以上"
                )

        try:
            results = merge_files(
                store.conn,
                paths,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                progress=bar,
                on_result=line,
                district_key=_district_key(key_file) if key_file else None,
                allow_v1=allow_v1,
                notice=lambda text: click.echo(text, err=True),
            )
        finally:
            bar(None, None)
        _print_summary(totals)
        for device, seqs in missing_bundles(store.conn).items():
            click.echo(
                f"缺少同步包 missing bundles: 设备 {device[:8]} 第 {gaps_text(seqs)} 个"
            )
    if not all(r.ok for r in results):
        sys.exit(1)


def _district_key(key_file: Path) -> Any:
    """The district's private key, opened with the passphrase (FIELDAPP_KEY_PASSPHRASE, or asked)."""
    from fieldapp import crypto

    passphrase = os.environ.get("FIELDAPP_KEY_PASSPHRASE")
    if passphrase is None:
        passphrase = click.prompt(
            "区级私钥口令 (district key passphrase)", hide_input=True, err=True
        )
    try:
        return crypto.load_district_private(key_file, passphrase)
    except crypto.KeyError_ as e:
        raise click.ClickException(str(e)) from None


def _print_summary(totals: dict[str, dict[str, int]]) -> None:
    from fieldapp.models import MODELS

    if not totals:
        return
    click.echo(f"{'':<14}{'new':>8}{'updated':>9}{'unchanged':>10}{'conflicts':>10}{'rejected':>9}")
    for kind, t in sorted(totals.items()):
        label = MODELS[kind].LABEL[1] if kind in MODELS else kind
        click.echo(
            f"{label:<14}{t['new']:>8}{t['updated']:>9}{t['unchanged']:>10}{t['conflicts']:>10}{t['rejected']:>9}"
        )


def _progress_bar(label: str) -> Any:
    """A progress bar on a terminal, nothing when piped; call with (None, None) to finish it."""
    if not sys.stderr.isatty():
        return lambda done, total: None
    state: dict[str, Any] = {}

    def update(done: int | None, total: int | None) -> None:
        if done is None:
            if state:
                click.echo("", err=True)
            return
        state["x"] = True
        width = 30
        frac = (done / total) if total else 1.0
        click.echo(
            f"\r{label} [{'#' * int(width * frac):<{width}}] {done}/{total}", nl=False, err=True
        )

    return update


@main.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="区级数据库 (the district database).",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="区级私钥文件（口令在界面中输入） (district private key; the passphrase is typed in the app).",
)
@click.pass_context
def district(ctx: click.Context, db_path: Path | None, key_file: Path | None) -> None:
    """区级：合并同步包、审核 (the supervisor's side; without a command opens the supervisor's app)."""
    if ctx.invoked_subcommand is not None:
        return
    path = db_path or paths.data_dir() / "district.db"
    if not path.exists():
        raise click.ClickException(
            f"区级数据库不存在：{path}（先运行 fieldapp district init --db {path}）"
        )
    from fieldapp.tui.district import run_district

    run_district(path, lang=ctx.obj.get("lang") if ctx.obj else None, key_file=key_file)


@district.command("keygen", context_settings=CONTEXT)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="写入密钥的文件夹 (folder for the key files).",
)
def district_keygen(out_dir: Path) -> None:
    """生成区级密钥对 (make the district's key pair; the private key is protected by a passphrase)."""
    from fieldapp import crypto

    passphrase = os.environ.get("FIELDAPP_KEY_PASSPHRASE")
    if passphrase is None:
        passphrase = click.prompt(
            "设置私钥口令 (passphrase, ≥ 10 characters)",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
    try:
        public, private, fp = crypto.district_keygen(out_dir, passphrase)
    except crypto.KeyError_ as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"公钥 public key (给各设备 for the devices): {public}")
    click.echo(f"私钥 private key (只留在区级电脑 keep at the district only): {private}")
    click.echo(f"公钥指纹 fingerprint: {fp}")


@district.command("enroll", context_settings=CONTEXT)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="区级数据库 (district database).",
)
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--yes", is_flag=True, help="不再询问（已核对指纹） (do not ask: the fingerprint was checked)."
)
def district_enroll(db_path: Path, source: Path, yes: bool) -> None:
    """登记设备：设备公钥文件，或它的第一个同步包 (enrol a device from its public key file or its first bundle)."""
    from fieldapp import review
    from fieldapp.store import StoreError
    from fieldapp import crypto
    from fieldapp.sync.bundle import BundleError, open_bundle

    try:
        if source.suffix == ".fieldbundle":
            with open_bundle(source, allow_v1=False) as reader:
                m = reader.manifest
                if m.device_public_key is None or not reader.signed_by(m.device_public_key):
                    raise click.ClickException(
                        "同步包的签名与其中的设备公钥不符 (the bundle's signature does not match its key)"
                    )
                device_id, label, public = m.device_id, m.device_label, str(m.device_public_key)
        else:
            data = crypto.read_device_public(source)
            device_id, label, public = (
                str(data["device_id"]),
                str(data.get("label") or ""),
                str(data["public"]),
            )
    except (BundleError, crypto.KeyError_) as e:
        raise click.ClickException(str(e)) from None
    fp = crypto.fingerprint(crypto.unb64(public))
    click.echo(f"设备 device {device_id}  {label}")
    click.echo(f"指纹 fingerprint: {fp}")
    if not yes and not click.confirm(
        "与设备上显示的指纹一致吗？(does it match the fingerprint shown on the device?)", err=True
    ):
        raise click.ClickException("未登记 (not enrolled)")
    with _open(db_path) as store:
        try:
            store.enroll(device_id, public, label=label, by=review.who())
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    click.echo("已登记 (enrolled)")


@district.command("devices", context_settings=CONTEXT)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="区级数据库 (district database).",
)
def district_devices(db_path: Path) -> None:
    """列出已登记的设备 (list enrolled devices)."""
    with _open(db_path) as store:
        for d in store.enrolled():
            state = f"已撤销 revoked {d['revoked_at']}" if d["revoked_at"] else "有效 active"
            click.echo(f"{d['device_id']}  {d['label'] or ''}  {d['fingerprint']}  {state}")


@district.command("revoke", context_settings=CONTEXT)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="区级数据库 (district database).",
)
@click.argument("device_id")
def district_revoke(db_path: Path, device_id: str) -> None:
    """撤销设备（如笔记本丢失） (revoke a device, e.g. a lost laptop: its bundles are refused from now on)."""
    from fieldapp import review
    from fieldapp.store import StoreError

    with _open(db_path) as store:
        try:
            store.revoke(device_id, by=review.who())
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已撤销 {device_id} (revoked)")


@district.command("init", context_settings=CONTEXT)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="新的区级数据库文件 (the new district database).",
)
def district_init(db_path: Path) -> None:
    """新建区级数据库 (create the district database: same schema and seed, no device)."""
    from fieldapp.store import StoreError

    with _open(db_path, create=True) as store:
        try:
            store.setup_district()
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已创建区级数据库 {db_path}")


@main.command(context_settings=CONTEXT)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="区级（或设备）数据库 (the district database).",
)
@click.option("--year", type=click.IntRange(2000, 2100), required=True, help="年度 (year).")
@click.option(
    "--month", type=click.IntRange(1, 12), default=None, help="只看该月 (one month of the year)."
)
@click.option(
    "--by",
    type=click.Choice(["district", "street", "community"]),
    default="street",
    show_default=True,
    help="细到哪一级 (down to which level).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="另存为 CSV (UTF-8 BOM).",
)
@click.option(
    "--xlsx",
    "xlsx_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="另存为 Excel 工作簿 (workbook with charts).",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="语言 (language; default: the UI language).",
)
@click.pass_context
def report(
    ctx: click.Context,
    db_path: Path,
    year: int,
    month: int | None,
    by: str,
    csv_path: Path | None,
    xlsx_path: Path | None,
    lang: str | None,
) -> None:
    """规划指标报表 (the plan's indicators against its targets, by district, street and community)."""
    from fieldapp import db
    from fieldapp import report as rep

    lang = lang or (ctx.obj or {}).get("lang", "zh")
    try:  # the report reads SQL only: no record models to import (start-up matters here)
        conn = db.connect(db_path, create=False)
    except db.DatabaseError as e:
        raise click.ClickException(str(e)) from None
    try:
        r = rep.build(conn, year, month, lang=lang or "zh")
        levels = rep.levels_for(by)
        _print_report(r, levels, lang or "zh")
        if csv_path:
            rep.write_csv(r, csv_path, levels)
            click.echo(f"CSV → {csv_path}")
        if xlsx_path:
            rep.write_xlsx(r, xlsx_path, conn, lang=lang or "zh")
            click.echo(f"XLSX → {xlsx_path}")
    finally:
        conn.close()


def _print_report(r: Any, levels: tuple[str, ...], lang: str) -> None:
    """A plain table readable at 100 columns; Chinese is two cells wide (rich.cells measures it).
    Written line by line: a Rich Table of 500 rows costs more than computing the report."""
    from rich.cells import cell_len

    from fieldapp import report as rep

    zh = lang != "en"
    heads = (
        ("区域", "指标", "分子", "分母", "数值", "目标", "状态")
        if zh
        else ("Area", "Indicator", "Num.", "Den.", "Value", "Target", "Status")
    )
    widths = (16, 30, 9, 9, 11, 7, 8)
    right = (False, False, True, True, True, True, False)

    def fit(text: str, width: int, align_right: bool) -> str:
        while cell_len(text) > width:
            text = text[:-1]
        pad = " " * (width - cell_len(text))
        return pad + text if align_right else text + pad

    def line(cells: tuple[str, ...]) -> str:
        return " ".join(fit(c, w, a) for c, w, a in zip(cells, widths, right, strict=True))

    click.echo(f"{'规划指标' if zh else 'Plan indicators'} {r.period.label}")
    click.echo(line(heads))
    click.echo("-" * (sum(widths) + len(widths) - 1))
    last_area = None
    colors = {"met": "green", "behind": "red"}
    for f in r.figures:
        if f.area_level not in levels:
            continue
        area = f.area_name if f.area_code != last_area else ""
        last_area = f.area_code
        status = rep.STATUS[f.status][0 if zh else 1]
        text = line(
            (
                area,
                rep.LABELS[f.indicator][0 if zh else 1],
                rep._num(f.numerator),
                "" if f.denominator is None else rep._num(f.denominator),
                "—" if f.value is None else f"{f.value:.2f}{f.unit if f.unit == '%' else ''}",
                "—" if f.target is None else rep._num(f.target),
                "",
            )
        )
        click.echo(text.rstrip() + " " + click.style(status, fg=colors.get(f.status)))
    op = r.operational
    click.echo(
        (
            "上门服务 {visits} 人次 / {workers} 名工作人员（人均 {visits_per_worker}）；困难老人本月探访 {hardship_visited}/{hardship_elders}（{hardship_month}）；"
            "逾期未探访 {overdue_followups}；待处理冲突 {open_conflicts}，待审核 {open_reviews}"
            if zh
            else "{visits} visits by {workers} workers ({visits_per_worker} each); hardship elders visited {hardship_visited}/{hardship_elders} ({hardship_month}); "
            "overdue {overdue_followups}; open conflicts {open_conflicts}, review items {open_reviews}"
        ).format(**op)
    )


@main.group(context_settings=CONTEXT)
def communities() -> None:
    """社区与人口参考数据 (communities and their 60+/80+ populations)."""


@communities.command("list", context_settings=CONTEXT)
@db_option
@click.option("--street", default=None, help="只列出该街道 (only this street code).")
def communities_list(db_path: Path | None, street: str | None) -> None:
    """列出社区及人口 (list communities with their populations)."""
    with _open(db_path) as store:
        rows = store.communities(street)
        for r in rows:
            mark = " 示例" if r["sample"] else ""
            click.echo(f"{r['code']}  {r['name_zh']}{mark}  60+={r['pop_60']}  80+={r['pop_80']}")
        click.echo(
            f"共 {len(rows)} 个；60+ 合计 {sum(r['pop_60'] for r in rows):,}，80+ 合计 {sum(r['pop_80'] for r in rows):,}"
        )


@communities.command("import", context_settings=CONTEXT)
@db_option
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def communities_import(db_path: Path | None, csv_file: Path) -> None:
    """用本区的CSV替换社区与人口 (replace communities and populations with the district's own CSV).

    Columns: code, street_code, name_zh, pop_60, pop_80 (required); name_en, kind, sample,
    code_confirmed, note (optional). A bad line refuses the whole file; nothing changes.
    """
    from fieldapp.reference import ReferenceError_

    with _open(db_path, create=True) as store:
        try:
            n = store.import_communities(csv_file)
        except ReferenceError_ as e:
            raise click.ClickException(
                f"未导入，数据库未改动 (not imported, nothing changed): {e}"
            ) from None
    click.echo(f"已导入 {n} 个社区 (imported {n} communities)")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.environ.get("FIELDAPP_PROG", "fieldapp"))
