"""The district's commands: verify and merge bundles, and the `district` group (keys, enrolment, revocation, its database)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fieldapp import paths
from fieldapp.cli.common import (
    CONTEXT,
    DISTRICT_DB_HELP,
    Progress,
    db_option,
    district_key,
    open_store,
    progress_bar,
)
from fieldapp.devices import short_device_id
from fieldapp.text import clean

if TYPE_CHECKING:
    from fieldapp.checklist import Checklist
    from fieldapp.mergelog import MergeLog
    from fieldapp.sync.merge import BundleResult

KEY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
BUNDLES = click.Path(exists=True, path_type=Path)
KEY_PASSPHRASE_MIN = 10  # crypto.district_keygen's rule, checked before the confirmation


@click.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=BUNDLES)
@db_option(
    "区级数据库：同时核对设备登记（只读） (district database: check the enrolment too; read only).",
    exists=True,
)
@click.option(
    "--key",
    "key_file",
    type=KEY_FILE,
    default=None,
    help="区级私钥：解密并逐条校验 (district private key: decrypt and check every version).",
)
def verify(files: tuple[Path, ...], db_path: Path | None, key_file: Path | None) -> None:
    """校验同步包，不改动任何数据库 (check bundles without changing any database; exit 1 if any is bad)."""
    from fieldapp import db, dbkey
    from fieldapp.sync.bundle import verify as do_verify
    from fieldapp.sync.merge import bundle_files

    enrolled = None
    merged: set[str] = set()
    if db_path is not None:
        try:  # read-only, with the key when the district database is encrypted
            ro = db.open_raw(db_path, readonly=True)
        except (db.DatabaseError, dbkey.DbKeyError) as e:
            raise click.ClickException(str(e)) from None
        enrolled = {
            r[0]: (r[1], r[2])
            for r in ro.execute("SELECT device_id, public_key, revoked_at FROM enrolled_devices")
        }
        merged = {r[0] for r in ro.execute("SELECT bundle_id FROM bundles")}
        ro.close()
    key = district_key(key_file) if key_file else None
    bad = 0
    for path in bundle_files(files):
        r = do_verify(path, enrolled=enrolled, district_key=key)
        if r.ok:
            n = sum(r.counts.values())
            fmt = r.manifest.format_version if r.manifest else "?"
            seq = r.manifest.seq if r.manifest else "?"
            seen = r.manifest is not None and r.manifest.bundle_id in merged
            already = "  已合并过 (already merged)" if seen else ""
            click.echo(
                f"OK     {clean(path.name)}  (format {fmt}, {n} versions, seq {seq})"
                f" {r.signature}{already}"
            )
        else:
            bad += 1
            click.echo(f"无效   {clean(path.name)}: {r.problem}")
    if bad:
        sys.exit(1)


class _MergeLog:
    """Prints one line per bundle as the merge goes; the summary after it is the run's log in
    Chinese with the English beside (`fieldapp.mergelog`, the TUI's own counts)."""

    WORDS = {
        "merged": "已合并",
        "already": "已合并过",
        "invalid": "无效",
        "checked": "检查通过",
        "busy": "未合并",
    }

    def __init__(self, bar: Progress) -> None:
        self.bar = bar

    def __call__(self, r: BundleResult) -> None:
        self.bar(None, None)  # the bundle's progress line ends before its result is printed
        if r.reason:
            extra = f"：{r.reason}"
        elif r.status == "merged":
            extra = f"（{r.versions} 个新版本，{r.seconds:.1f} 秒）"
        else:
            extra = ""
        click.echo(f"{self.WORDS[r.status]:<6} {clean(r.path.name)}{extra}")
        for no, rid, reason in r.rejected:
            click.echo(f"       拒收 rejected line {no} record {rid}: {reason}")
        if r.clock_suspect:
            click.echo(f"       时钟可疑 clock_suspect: {r.clock_suspect} 个版本的时间超前一天以上")


def _pad(text: str, width: int, right: bool = False) -> str:
    from rich.cells import cell_len

    fill = " " * max(0, width - cell_len(text))
    return fill + text if right else text + fill


def merge_summary(log: MergeLog) -> list[str]:
    """The CLI's summary: the counts of bundles (merged, already merged, refused, cancelled), the
    new review items, and the versions per kind, each in Chinese then English."""
    from fieldapp.mergelog import SUMMARY_FIELDS, word
    from fieldapp.models import MODELS

    out = [f"{log.headline('zh')} ({log.headline('en')})", log.review_line("zh")]
    out.append("  " + log.review_line("en"))
    totals = log.totals()
    if totals:
        out.append(
            _pad("", 18)
            + "".join(_pad(f"{word(f)} {word(f, 'en')}", 18, right=True) for f in SUMMARY_FIELDS)
        )
        for kind, row in sorted(totals.items()):
            zh, en = MODELS[kind].LABEL if kind in MODELS else (kind, kind)
            out.append(
                _pad(f"{zh} {en}", 18)
                + "".join(_pad(str(row[f]), 18, right=True) for f in SUMMARY_FIELDS)
            )
    return out


@click.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=BUNDLES)
@db_option("区级数据库 (the district database).", required=True)
@click.option("--dry-run", is_flag=True, help="只检查，不写入 (check everything, write nothing).")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="跳过不合格的记录，合并其余的 (merge the valid versions, keep the rejected ones with reasons).",
)
@click.option(
    "--key",
    "key_file",
    type=KEY_FILE,
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

    bundles = bundle_files(files)
    if not bundles:
        raise click.ClickException("没有找到 .fieldbundle 文件 (no .fieldbundle files found)")
    from fieldapp import review
    from fieldapp.mergelog import MergeLog

    with open_store(db_path) as store:
        key = district_key(key_file) if key_file else None
        bar = progress_bar("合并 merging：版本 versions")
        before = review.counts(store.conn)
        try:
            results = merge_files(
                store.conn,
                bundles,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                lines=bar,
                on_result=_MergeLog(bar),
                district_key=key,
                allow_v1=allow_v1,
                notice=lambda text: click.echo(text, err=True),
            )
        finally:
            bar(None, None)
        from fieldapp.report import warm

        warm(store.conn, (r.status for r in results))  # a dry run's are "checked": nothing
        log = MergeLog(bundles, results, before, review.counts(store.conn))
        click.echo("\n".join(merge_summary(log)))
        for device, seqs in missing_bundles(store.conn).items():
            click.echo(
                f"缺少同步包 missing bundles: 设备 {short_device_id(device)} 第 {gaps_text(seqs)} 个"
            )
    if not all(r.ok for r in results):
        sys.exit(1)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@db_option("区级数据库 (the district database).")
@click.option(
    "--key",
    "key_file",
    type=KEY_FILE,
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
    from fieldapp.integrity import DatabaseError
    from fieldapp.tui.district import run_district

    try:
        run_district(path, lang=ctx.obj.get("lang") if ctx.obj else None, key_file=key_file)
    except DatabaseError as e:  # a damaged district database: its reason and the good backup
        raise click.ClickException(str(e)) from None


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
        passphrase = _new_passphrase()
    try:
        public, private, fp = crypto.district_keygen(out_dir, passphrase)
    except crypto.KeyError_ as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"公钥 public key (给各设备 for the devices): {public}")
    click.echo(f"私钥 private key (只留在区级电脑 keep at the district only): {private}")
    click.echo(f"公钥指纹 fingerprint: {fp}")
    from fieldapp.district_keys import read_district_public

    click.echo(
        f"签名公钥指纹 signing key fingerprint: {read_district_public(public).sign_fingerprint}"
    )


def _new_passphrase() -> str:
    """Asked until it is long enough, its length checked before the confirmation is asked
    (an empty answer is asked again by click)."""
    while True:
        passphrase: str = click.prompt(
            "设置私钥口令 (passphrase, ≥ 10 characters)", hide_input=True, err=True
        )
        if len(passphrase) < KEY_PASSPHRASE_MIN:
            click.echo(
                f"口令至少{KEY_PASSPHRASE_MIN}个字符，请重新输入"
                f" (the passphrase needs at least {KEY_PASSPHRASE_MIN} characters)",
                err=True,
            )
            continue
        again: str = click.prompt("再次输入口令 (repeat the passphrase)", hide_input=True, err=True)
        if again == passphrase:
            return passphrase
        click.echo("两次输入的口令不一致，请重新输入 (the two entries differ)", err=True)


def _device_identity(source: Path) -> tuple[str, str, str, str | None]:
    """(device id, label, public key, community) from a device public key file or a signed bundle
    (its signed manifest's community); the community is None in a key file made before v2."""
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
                return m.device_id, m.device_label, str(m.device_public_key), m.community_code
        data = crypto.read_device_public(source)
        code = data.get("community_code")
        return (
            str(data["device_id"]),
            str(data.get("label") or ""),
            str(data["public"]),
            str(code) if code else None,
        )
    except (BundleError, crypto.KeyError_) as e:
        raise click.ClickException(str(e)) from None


@district.command("enroll", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.argument("source", type=KEY_FILE)
@click.option(
    "--yes", is_flag=True, help="不再询问（已核对指纹） (do not ask: the fingerprint was checked)."
)
@click.option(
    "--community",
    "communities",
    multiple=True,
    help="设备可写的社区代码（可重复；默认取自公钥文件或同步包） (community the device may write; repeatable).",
)
def district_enroll(db_path: Path, source: Path, yes: bool, communities: tuple[str, ...]) -> None:
    """登记设备：设备公钥文件，或它的第一个同步包 (enrol a device from its public key file or its first bundle)."""
    from fieldapp import crypto, review
    from fieldapp.store import StoreError

    device_id, label, public, named = _device_identity(source)
    codes = list(communities) or ([named] if named else [])
    fp = crypto.fingerprint(crypto.unb64(public))
    click.echo(f"设备 device {clean(device_id, 64)}  {clean(label, 80)}")
    click.echo(
        f"社区 community: {'、'.join(codes) or '未知 (unknown: confirm it with --community)'}"
    )
    click.echo(f"指纹 fingerprint: {fp}")
    if not yes and not click.confirm(
        "与设备上显示的指纹一致吗？(does it match the fingerprint shown on the device?)", err=True
    ):
        raise click.ClickException("未登记 (not enrolled)")
    with open_store(db_path) as store:
        try:
            store.enroll(device_id, public, label=label, by=review.who(), communities=codes)
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    click.echo("已登记 (enrolled)")
    if not codes:
        click.echo(
            f"社区未确认，其同步包暂不合并：请运行 fieldapp district confirm {device_id} --community 社区代码"
            " (community not confirmed: its bundles wait until you confirm it)"
        )


@district.command("confirm", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.argument("device_id")
@click.option(
    "--community",
    "communities",
    multiple=True,
    required=True,
    help="设备可写的社区代码（可重复） (community the device may write; repeatable).",
)
def district_confirm(db_path: Path, device_id: str, communities: tuple[str, ...]) -> None:
    """确认已登记设备的社区 (confirm the communities an enrolled device may write, SPEC §4a)."""
    from fieldapp.store import StoreError

    with open_store(db_path) as store:
        try:
            store.confirm(device_id, communities)
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已确认 {device_id}: {'、'.join(communities)} (confirmed)")


@district.command("accept-bundle", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.argument("file", type=KEY_FILE)
@click.option("--comment", default=None, help="说明（如：被盗前导出） (why it is accepted).")
def district_accept_bundle(db_path: Path, file: Path, comment: str | None) -> None:
    """接受已撤销设备被盗前的某个同步包（按文件 sha256） (accept one pre-theft bundle of a revoked device, by its sha256)."""
    from fieldapp import review
    from fieldapp.sync.authority import accept_bundle
    from fieldapp.sync.bundle_format import BundleError, file_sha256

    with open_store(db_path) as store:
        try:
            with store.transaction():
                device_id = accept_bundle(store.conn, file, by=review.who(), comment=comment)
        except BundleError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已接受 accepted {file.name} (device {device_id[:8]}, sha256 {file_sha256(file)})")


@district.command("accept-clock", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.option(
    "--version", "version_id", default=None, help="一个时钟可疑的版本 (one flagged version)."
)
@click.option(
    "--bundle",
    "bundle_id",
    default=None,
    help="一个同步包的全部可疑版本 (every flagged version of one bundle).",
)
def district_accept_clock(db_path: Path, version_id: str | None, bundle_id: str | None) -> None:
    """接受时钟可疑的版本，并重新确定其记录的当前版本 (accept flagged clocks and settle their records again)."""
    from fieldapp import review
    from fieldapp.sync.authority import accept_clocks

    if (version_id is None) == (bundle_id is None):
        raise click.ClickException(
            "请指定 --version 或 --bundle 之一 (name exactly one of --version, --bundle)"
        )
    with open_store(db_path) as store, store.transaction():
        n = accept_clocks(store.conn, version_id=version_id, bundle_id=bundle_id, by=review.who())
    if n == 0:
        raise click.ClickException("没有找到未接受的时钟可疑版本 (no unaccepted clock flag found)")
    click.echo(f"已接受 {n} 个版本的时钟 (accepted {n} clock flag(s))")


@district.command("devices", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
def district_devices(db_path: Path) -> None:
    """列出已登记的设备 (list enrolled devices)."""
    with open_store(db_path) as store:
        for d in store.enrolled():
            state = f"已撤销 revoked {d['revoked_at']}" if d["revoked_at"] else "有效 active"
            click.echo(
                f"{d['device_id']}  {clean(d['label'] or '', 80)}  {d['fingerprint']}  {state}"
            )


@district.command("revoke", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True)
@click.argument("device_id")
def district_revoke(db_path: Path, device_id: str) -> None:
    """撤销设备（如笔记本丢失） (revoke a device, e.g. a lost laptop: its bundles are refused from now on)."""
    from fieldapp import review
    from fieldapp.store import StoreError

    with open_store(db_path) as store:
        try:
            store.revoke(device_id, by=review.who())
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已撤销 {device_id} (revoked)")


@district.command("init", context_settings=CONTEXT)
@db_option("新的区级数据库文件 (the new district database).", required=True)
@click.option(
    "--supervisor",
    default=None,
    help="审核人姓名，记入每个审核决定；对已有的区级库只更新姓名 (the supervisor's name, recorded"
    " with every review decision; on an existing district database it only sets the name).",
)
def district_init(db_path: Path, supervisor: str | None) -> None:
    """新建区级数据库 (create the district database: same schema and seed, no device)."""
    from fieldapp.store import StoreError
    from fieldapp.store.district import set_supervisor

    existed = db_path.exists()
    with open_store(db_path, create=True) as store:
        try:
            if not (existed and supervisor):
                store.setup_district()
            if supervisor:
                with store.transaction():
                    set_supervisor(store.conn, supervisor)
        except StoreError as e:
            raise click.ClickException(str(e)) from None
    if existed and supervisor:
        click.echo(f"审核人已设为 {supervisor.strip()} (supervisor set)")
    else:
        click.echo(f"已创建区级数据库 {db_path}")


def _period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    from datetime import date

    if value is None:
        return f"{date.today():%Y-%m}"
    ok = len(value) == 7 and value[4] == "-" and (value[:4] + value[5:]).isdigit()
    if not ok or not 1 <= int(value[5:]) <= 12:
        raise click.BadParameter(f"月份须为 YYYY-MM：{value} (a month is YYYY-MM)")
    return value


@district.command("checklist", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option(
    "--period", default=None, callback=_period, help="月份 YYYY-MM (the month; default this one)."
)
@click.option(
    "--folder",
    "folders",
    multiple=True,
    type=BUNDLES,
    help="也检查此文件夹（含子文件夹）中未合并或被拒收的同步包 (also check the bundles here).",
)
@click.option(
    "--sort",
    type=click.Choice(["state", "community", "street", "last"]),
    default="state",
    help="排序：状态（最差在前）、社区、街道、最后同步包 (order of the lines).",
)
@click.option(
    "--xlsx",
    "xlsx_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="另存为 XLSX (also save it as an XLSX file).",
)
def district_checklist(
    db_path: Path, period: str, folders: tuple[Path, ...], sort: str, xlsx_out: Path | None
) -> None:
    """本月清单：各社区的设备、最后同步包，本月的包已收到、未收到、拒收或不适用 (this month's
    checklist, the same as the app's F6 screen)."""
    from fieldapp import checklist

    with open_store(db_path) as store:
        cl = checklist.checklist(store.conn, period, folders=folders)
    for line in checklist_lines(cl, sort):
        click.echo(line)
    if xlsx_out is not None:
        try:
            checklist.write_xlsx(cl, xlsx_out, sort=sort)
        except OSError as e:
            raise click.ClickException(f"{xlsx_out}: {e.strerror}") from None
        click.echo(f"已保存 saved: {xlsx_out}")


def checklist_lines(cl: Checklist, sort: str) -> list[str]:
    """The checklist as text: the counts, then one tab-separated line per community."""
    from fieldapp.checklist import state_word

    counts = cl.counts()
    out = [
        f"{cl.period}  "
        + "  ".join(f"{state_word(s)} {n}" for s, n in counts.items() if n)
        + "  ("
        + ", ".join(f"{state_word(s, 'en')} {n}" for s, n in counts.items() if n)
        + ")",
        "\t".join(("社区代码", "社区", "街道", "设备", "最后同步包", "状态", "原因")),
    ]
    for r in cl.sorted(sort):
        out.append(
            "\t".join(
                (
                    r.community_code,
                    clean(r.community_name),
                    clean(r.street_name),
                    clean("、".join(r.devices)) or "—",
                    r.last or "—",
                    state_word(r.state),
                    clean(r.reason),
                )
            )
        )
    for u in cl.unreadable:
        out.append(f"无法读取 unreadable\t{clean(u.file_name)}\t{clean(u.reason)}")
    return out
