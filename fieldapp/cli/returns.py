"""The return-bundle commands (SPEC §5b): `fieldapp district return` at the district, `fieldapp import` on a laptop."""

from __future__ import annotations

import os
from pathlib import Path

import click

from fieldapp.cli.common import CONTEXT, DISTRICT_DB_HELP, db_option, open_store


@click.command("return", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="区级私钥文件 (district.private.json: its Ed25519 key signs the return bundles).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="写入的文件夹 (folder to write the return bundles to).",
)
@click.option(
    "--community",
    "communities",
    multiple=True,
    help="只写这个社区（可重复；默认全部） (only this community; repeatable; default: all).",
)
def return_bundles(
    db_path: Path, key_file: Path, out_dir: Path, communities: tuple[str, ...]
) -> None:
    """写回传包：每个社区一个，加密给该社区已登记的设备 (write each community's return bundle, sealed to its enrolled laptops)."""
    from fieldapp.crypto import KeyError_
    from fieldapp.district_keys import district_code_of, load_district_signing
    from fieldapp.sync.bundle_format import BundleError
    from fieldapp.sync.return_write import District, ReturnResult, applied_by, write_returns

    passphrase = os.environ.get("FIELDAPP_KEY_PASSPHRASE")
    if passphrase is None:
        passphrase = click.prompt(
            "区级私钥口令 (district key passphrase)", hide_input=True, err=True
        )
    try:
        signing = load_district_signing(key_file, passphrase)
        code = district_code_of(key_file)
    except KeyError_ as e:
        raise click.ClickException(str(e)) from None

    def shown(done: int, total: int, r: ReturnResult) -> None:
        if r.path is None:
            click.echo(f"[{done}/{total}] {r.community_code} 未写出：{r.skipped}")
            return
        click.echo(
            f"[{done}/{total}] {r.community_code} → {r.path.name}"
            f"（{r.versions} 个版本，加密给 {r.devices} 台设备）"
        )
        acks = applied_by(store.conn, r.community_code)
        if acks:
            said = "，".join(f"{d[:8]} 第 {s} 个" for d, s in sorted(acks.items()))
            click.echo(f"    各设备已导入的回传包 (applied by the laptops): {said}")

    with open_store(db_path) as store:
        try:
            results = write_returns(
                District(store.conn, signing, code),
                out_dir,
                list(communities) or None,
                progress=shown,
            )
        except BundleError as e:
            raise click.ClickException(str(e)) from None
    written = [r for r in results if r.path is not None]
    click.echo(f"共写出 {len(written)} 个回传包 (wrote {len(written)} return bundles)")


@click.command("import", context_settings=CONTEXT)
@db_option()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_bundles(db_path: Path | None, files: tuple[Path, ...]) -> None:
    """导入区里的回传包或同事的同步包 (import the district's return bundles, or a colleague's bundle; exit 1 if any is refused)."""
    from fieldapp.sync.merge import bundle_files
    from fieldapp.sync.office import import_any
    from fieldapp.sync.return_format import ranges_text
    from fieldapp.sync.return_read import district_has

    failed = 0
    with open_store(db_path) as store:
        for path in bundle_files(list(files)):
            r = import_any(store, path)
            if r.status == "applied":
                click.echo(
                    f"{path.name}：已导入，{r.versions} 个版本，其中新的 {r.versions_new} 个"
                    + ("；参考数据已更新" if r.refdata_applied else "")
                )
            elif r.status == "already":
                click.echo(f"{path.name}：已导入过，未改动 (already imported)")
            else:
                failed += 1
                click.echo(f"{path.name}：未导入 (refused)：{r.reason}", err=True)
        have, lacking = district_has(store)
    if have:
        click.echo(f"区里已收到第 {ranges_text(have)} 个同步包")
    if lacking:
        click.echo(f"区里还没有第 {ranges_text(lacking)} 个同步包（请交给区里）")
    if failed:
        raise SystemExit(1)
