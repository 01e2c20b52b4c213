"""The worker's commands: set up the device and its keys, show the counts, export the month's bundle, the community list."""

from __future__ import annotations

from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, db_file, db_option, open_store, print_counts, progress_bar
from fieldapp.cli.secure import wrap_to_district


@click.command(context_settings=CONTEXT)
@db_option()
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
    from fieldapp import crypto
    from fieldapp.district_keys import read_district_public
    from fieldapp.store import StoreError

    with open_store(db_path, create=True) as store:
        try:
            public = crypto.load_district_public(district_key) if district_key else None
            dev = store.setup_device(
                street_code=street, community_code=community, worker=worker, label=label
            )
            if public and district_key:
                sign = read_district_public(district_key).sign_public
                store.install_district_key(*public, sign)
        except (StoreError, crypto.KeyError_) as e:
            raise click.ClickException(str(e)) from None
        fp = crypto.fingerprint(crypto.unb64(store.keys()["sign_public"]))
    click.echo(f"已设置设备 {dev.label}（{dev.device_id}），数据库 {db_file(db_path)}")
    if district_key is not None:  # data at rest: the database key also sealed to the district
        wrap_to_district(db_path, district_key)
    click.echo(f"本设备签名密钥指纹 (device key fingerprint): {fp}")
    if public:
        click.echo(f"区级公钥指纹 (district key fingerprint): {public[1]}")
    else:
        click.echo(
            "尚未安装区级公钥：导出前请运行 fieldapp device-key install 公钥文件 (no district key yet)"
        )


@click.group("device-key", context_settings=CONTEXT)
def device_key() -> None:
    """本设备的签名密钥与区级公钥 (this device's signing key and the district's public key)."""


@device_key.command("show", context_settings=CONTEXT)
@db_option()
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

    with open_store(db_path) as store:
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
            crypto.device_public_file(
                out_file, dev.device_id, dev.label, keys["sign_public"], dev.community_code
            )
            click.echo(f"已写入 {out_file}")


@device_key.command("install", context_settings=CONTEXT)
@db_option()
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def device_key_install(db_path: Path | None, public_key_file: Path) -> None:
    """安装区级公钥（或轮换后换新） (install the district's public key, or the new one after a rotation)."""
    from fieldapp import crypto
    from fieldapp.district_keys import OLD_PUBLIC_ZH, read_district_public
    from fieldapp.store import StoreError

    with open_store(db_path) as store:
        try:
            public, fp = crypto.load_district_public(public_key_file)
            sign = read_district_public(public_key_file)
            store.install_district_key(public, fp, sign.sign_public)
        except (StoreError, crypto.KeyError_) as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"已安装区级公钥，指纹 {fp}（请与区级管理员核对）")
    wrap_to_district(db_path, public_key_file)  # a rotated district key brings its recovery key
    if sign.sign_fingerprint:
        click.echo(f"区级签名公钥指纹 (district signing key): {sign.sign_fingerprint}")
    else:
        click.echo(OLD_PUBLIC_ZH)


@click.command(context_settings=CONTEXT)
@db_option()
def status(db_path: Path | None) -> None:
    """显示设备与各类记录数 (show the device and the number of records of each kind)."""
    with open_store(db_path) as store:
        dev = store.device()
        if dev and dev.role == "district":  # no community, no worker: the supervisor
            click.echo(
                f"区级数据库 district database: {dev.device_id} 审核人 supervisor {dev.worker or '未设置 not set'}"
            )
        elif dev:
            click.echo(
                f"设备 device: {dev.label} {dev.device_id} 社区 {dev.community_code} 工作人员 {dev.worker}"
            )
        else:
            click.echo("设备尚未设置 (device not set up: run `fieldapp init`)")
        counts = store.counts()
        versions = counts.pop("versions")
        print_counts(counts, versions)


@click.command(context_settings=CONTEXT)
@db_option()
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
@click.option(
    "--mkdir",
    is_flag=True,
    help="目标文件夹不存在时新建它 (create the folder when it does not exist; default: refuse).",
)
@click.option(
    "--for-colleagues",
    is_flag=True,
    help="也加密给本社区其他已登记设备（办公室内直接交换） (also seal it to the community's other laptops).",
)
def export(
    db_path: Path | None,
    period: str | None,
    full: bool,
    out_dir: Path,
    allow_v1: bool,
    for_colleagues: bool,
    mkdir: bool,
) -> None:
    """导出同步包 (write this month's sync bundle: every version since the last export, signed and sealed)."""
    from fieldapp import integrity
    from fieldapp.sqlite import sqlite3
    from fieldapp.store import StoreError
    from fieldapp.sync.bundle import BundleError, Manifest
    from fieldapp.sync.export import export as do_export
    from fieldapp.sync.export import target_folder, usb_fault

    if period is not None:
        try:
            Manifest._period(period)
        except ValueError:
            raise click.BadParameter(
                "须为 YYYY-MM (must be YYYY-MM)", param_hint="--period"
            ) from None
    with open_store(db_path) as store:
        bar = progress_bar("导出 exporting")
        try:
            target_folder(out_dir, mkdir=mkdir)  # an unplugged stick is refused, not created
            result = do_export(
                store,
                out_dir,
                period=period,
                full=full,
                progress=bar,
                allow_v1=allow_v1,
                for_colleagues=for_colleagues,
            )
        except (StoreError, BundleError, integrity.DatabaseError) as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(str(usb_fault(e, out_dir))) from None
        except sqlite3.Error as e:  # e.g. the laptop's own disk is full: the next export recovers
            raise click.ClickException(
                f"导出未记录，数据库写入失败：{e}（the export could not be recorded; the next export recovers it）"
            ) from None
        finally:
            bar(None, None)
    if result.recovered is not None:
        click.echo(
            f"已找回上次中断的导出 {result.recovered.name}，已记录 (recovered an interrupted export)"
        )
        if result.path == result.recovered:
            click.echo("自上次导出以来没有新的记录 (nothing new since)")
            return
    counts = "，".join(f"{k} {v}" for k, v in result.counts.items())
    click.echo(
        f"已导出 {result.path}（第 {result.seq} 个，{result.versions} 个版本：{counts}）已校验 OK"
    )


@click.group(context_settings=CONTEXT)
def communities() -> None:
    """社区与人口参考数据 (communities and their 60+/80+ populations)."""


@communities.command("list", context_settings=CONTEXT)
@db_option()
@click.option("--street", default=None, help="只列出该街道 (only this street code).")
def communities_list(db_path: Path | None, street: str | None) -> None:
    """列出社区及人口 (list communities with their populations)."""
    with open_store(db_path) as store:
        rows = store.communities(street)
        for r in rows:
            mark = " 示例" if r["sample"] else ""
            click.echo(f"{r['code']}  {r['name_zh']}{mark}  60+={r['pop_60']}  80+={r['pop_80']}")
        click.echo(
            f"共 {len(rows)} 个；60+ 合计 {sum(r['pop_60'] for r in rows):,}，80+ 合计 {sum(r['pop_80'] for r in rows):,}"
        )


@communities.command("import", context_settings=CONTEXT)
@db_option()
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def communities_import(db_path: Path | None, csv_file: Path) -> None:
    """用本区的CSV替换社区与人口 (replace communities and populations with the district's own CSV).

    Columns: code, street_code, name_zh, pop_60, pop_80 (required); name_en, kind, sample,
    code_confirmed, note (optional). A bad line refuses the whole file; nothing changes.
    """
    from fieldapp.reference import ReferenceError_

    with open_store(db_path, create=True) as store:
        try:
            n = store.import_communities(csv_file)
        except ReferenceError_ as e:
            raise click.ClickException(
                f"未导入，数据库未改动 (not imported, nothing changed): {e}"
            ) from None
    click.echo(f"已导入 {n} 个社区 (imported {n} communities)")
