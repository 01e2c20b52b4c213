"""Commands for data at rest: `passphrase change|recovery`, `encrypt`, `district recover[-device]`.

Also the CLI's passphrase source (FIELDAPP_PASSPHRASE, else a prompt; twice with a strength hint
on first run) and its notice when a plain database is opened; `register` installs all of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from nacl.public import PrivateKey

from fieldapp import dbkey
from fieldapp.cli.common import CONTEXT, db_file, db_option

NEW_PASSPHRASE_ENV = "FIELDAPP_NEW_PASSPHRASE"
RECOVERY_PASSPHRASE_ENV = "FIELDAPP_KEY_PASSPHRASE"
# printed wherever the demo database is made or opened; README says so
DEMO_PASSPHRASE = "haileng-demo-2024"


def ask_new(what: str = "设置数据库口令 (new database passphrase)") -> str:
    """A new passphrase, asked twice, refused below the minimum length, with a strength hint."""
    while True:
        first = click.prompt(
            f"{what}，至少 {dbkey.MIN_PASSPHRASE} 个字符", hide_input=True, err=True
        )
        why = dbkey.check_passphrase(first)
        if why:
            click.echo(why, err=True)
            continue
        click.echo(dbkey.strength_hint(first), err=True)
        again = click.prompt("再输入一次 (repeat)", hide_input=True, err=True)
        if again == first:
            return str(first)
        click.echo("两次输入不一致，请重新设置（the two entries differ）", err=True)


def ask(db_path: Path, first: bool) -> str:
    """The CLI's `dbkey` asker: a prompt on the terminal (stderr, so output stays clean)."""
    if first:
        return ask_new(f"新数据库 {db_path.name}：设置口令 (set a passphrase)")
    return str(
        click.prompt(f"数据库 {db_path.name} 的口令 (passphrase)", hide_input=True, err=True)
    )


def _new_passphrase() -> str:
    env = os.environ.get(NEW_PASSPHRASE_ENV)
    return env if env is not None else ask_new("新口令 (new passphrase)")


def demo_passphrase() -> None:
    """The demo database's fixed passphrase, unless FIELDAPP_PASSPHRASE says otherwise."""
    if os.environ.get(dbkey.PASSPHRASE_ENV) is not None or dbkey.unencrypted_requested():
        return
    os.environ[dbkey.PASSPHRASE_ENV] = DEMO_PASSPHRASE
    click.echo(f"演示数据库口令 (demo passphrase): {DEMO_PASSPHRASE}", err=True)


def _fail(e: Exception) -> click.ClickException:
    return click.ClickException(str(e))


# ------------------------------------------------------------------ passphrase


@click.group("passphrase", context_settings=CONTEXT)
def passphrase() -> None:
    """数据库口令 (the database passphrase; the database itself is never re-encrypted)."""


@passphrase.command("change", context_settings=CONTEXT)
@db_option()
def passphrase_change(db_path: Path | None) -> None:
    """更换口令：只重新包装密钥 (change the passphrase: re-wraps only the key)."""
    path = db_file(db_path)
    kf = dbkey.key_path(path)
    try:
        old = os.environ.get(dbkey.PASSPHRASE_ENV)
        if old is None:
            old = click.prompt("当前口令 (current passphrase)", hide_input=True, err=True)
        key = dbkey.unwrap(kf, str(old), path)
        dbkey.rewrap(kf, key, _new_passphrase())
    except dbkey.DbKeyError as e:
        raise _fail(e) from None
    click.echo(f"口令已更换，数据库未改动：{kf}（passphrase changed; the database is untouched）")


@passphrase.command("recovery", context_settings=CONTEXT)
@db_option()
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def passphrase_recovery(db_path: Path | None, public_key_file: Path) -> None:
    """把数据库密钥包装给区级恢复公钥 (wrap the database key to the district's recovery key)."""
    from fieldapp import crypto

    path = db_file(db_path)
    try:
        recovery = crypto.load_recovery_public(public_key_file)
        if recovery is None:
            raise click.ClickException(
                "该区级公钥文件没有恢复公钥（请用新版 district keygen 生成）(no recovery key in it)"
            )
        key = dbkey.key_for(path)
        dbkey.add_recovery(dbkey.key_path(path), key, recovery)
    except (dbkey.DbKeyError, crypto.KeyError_) as e:
        raise _fail(e) from None
    click.echo(f"已加入区级恢复包装，指纹 {crypto.fingerprint(recovery)}")


def wrap_to_district(db_path: Path | None, public_key_file: Path) -> None:
    """With the district key installed (`init --district-key`, `device-key install`): the device's
    database key is also sealed to the recovery public key that came with it (issue 18, point 3), so a
    forgotten passphrase costs no work. A plain database has no key to wrap; an older district key
    file without a recovery key gets a warning, never a refusal: the district key itself is installed."""
    from fieldapp import crypto

    path = db_file(db_path)
    if dbkey.is_plain(path):
        return
    try:
        recovery = crypto.load_recovery_public(public_key_file)
        if recovery is None:
            click.echo(
                "注意：该区级公钥文件没有恢复公钥，忘记口令时无法由区级恢复（请用新版 district keygen 生成）"
                "(no recovery key in this district key file: a forgotten passphrase cannot be recovered)",
                err=True,
            )
            return
        dbkey.add_recovery(dbkey.key_path(path), dbkey.key_for(path), recovery)
    except (dbkey.DbKeyError, crypto.KeyError_) as e:
        raise _fail(e) from None
    click.echo(f"数据库密钥已包装给区级恢复公钥，指纹 {crypto.fingerprint(recovery)}")


# ------------------------------------------------------------------ encrypt


@click.command("encrypt", context_settings=CONTEXT)
@db_option(required=True, exists=True)
@click.option("--keep-plain", is_flag=True, help="保留未加密的原文件 (keep the plain file).")
def encrypt(db_path: Path, keep_plain: bool) -> None:
    """把未加密的数据库就地转换为加密数据库 (convert a plain database in place)."""
    from fieldapp import encrypt_db

    try:
        result = encrypt_db.encrypt_in_place(
            db_path, _new_passphrase_for(db_path), keep_plain=keep_plain
        )
    except (dbkey.DbKeyError, encrypt_db.EncryptError) as e:
        raise _fail(e) from None
    click.echo(f"已加密 {db_path}（{result.rows} 行逐行核对一致；密钥文件 {result.key_file}）")
    for b in result.plain_backups:
        click.echo(f"注意：备份 {b.name} 仍未加密，请删除或另行保管 (this backup is still plain)")
    if result.kept is not None:
        click.echo(f"未加密的原文件保留在 {result.kept}：请妥善处理 (the plain copy is kept)")
    else:
        click.echo(
            "未加密的原文件已覆写后删除（尽力而为：SSD 与日志文件系统可能保留旧块）"
            "(the plain file was overwritten, then deleted: best effort)"
        )


def _new_passphrase_for(db_path: Path) -> str:
    env = os.environ.get(dbkey.PASSPHRASE_ENV)
    return env if env is not None else ask_new(f"{db_path.name}：设置口令 (set a passphrase)")


# ------------------------------------------------------------------ recovery at the district


def _recovery_private(recovery_key: Path) -> PrivateKey:
    from fieldapp import crypto

    pw = os.environ.get(RECOVERY_PASSPHRASE_ENV)
    if pw is None:
        pw = click.prompt("恢复密钥口令 (recovery key passphrase)", hide_input=True, err=True)
    try:
        return crypto.load_recovery_private(recovery_key, str(pw))
    except crypto.KeyError_ as e:
        raise _fail(e) from None


def _recover(key_file: Path, recovery_key: Path) -> None:
    private = _recovery_private(recovery_key)
    try:
        dbkey.recover(key_file, private, _new_passphrase())
    except dbkey.DbKeyError as e:
        raise _fail(e) from None
    click.echo(f"已用新口令重新包装 {key_file}，数据未改动（re-wrapped under the new passphrase）")


_RECOVERY_KEY = click.option(
    "--recovery-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="区级恢复密钥文件 (district.recovery.json, kept offline).",
)


@click.command("recover-device", context_settings=CONTEXT)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="设备数据库的密钥文件 (the device's DEVICE.db.key.json).",
)
@_RECOVERY_KEY
def recover_device(key_file: Path, recovery_key: Path) -> None:
    """工作人员忘记口令：用恢复密钥重设 (a worker forgot the passphrase: set a new one)."""
    _recover(key_file, recovery_key)


@click.command("recover", context_settings=CONTEXT)
@db_option("区级数据库 (district database).", required=True)
@_RECOVERY_KEY
def recover(db_path: Path, recovery_key: Path) -> None:
    """区级数据库忘记口令：用恢复密钥重设 (the district database's passphrase is forgotten)."""
    _recover(dbkey.key_path(db_path), recovery_key)


def _plain_notice(db_path: Path) -> None:
    click.echo(dbkey.plain_offer(db_path), err=True)


def register(main: click.Group, district: click.Group) -> None:
    """Add the commands, and make the CLI the passphrase source and the plain-database notice."""
    main.add_command(passphrase)
    main.add_command(encrypt)
    district.add_command(recover)
    district.add_command(recover_device)
    dbkey.set_asker(ask)
    dbkey.set_plain_notice(_plain_notice)
