"""`fieldapp review list|show|decide|undo` and `fieldapp district transfer`: the district's review
from a shell, with the same functions and wording as the TUI's dialog. ID numbers are masked.
Exit codes: 0 done, 1 refused (the reason in Chinese and English), 2 wrong usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fieldapp.cli.common import CONTEXT, DISTRICT_DB_HELP, db_option, open_store
from fieldapp.cli.messages import say
from fieldapp.sqlite import sqlite3

_SHOWN = ("name", "gender", "age", "id_number", "phone", "community_code", "status")


def _refused(e: Exception) -> click.ClickException:
    return click.ClickException(str(e))


def _conn(db_path: Path) -> sqlite3.Connection:
    store = open_store(db_path)
    if store.conn.execute("SELECT 1 FROM device WHERE role = 'district'").fetchone() is None:
        store.close()
        raise click.ClickException("本库不是区级数据库 (this database is not the district's)")
    return store.conn


def _by(conn: sqlite3.Connection, by: str | None) -> str:
    from fieldapp import review

    return by or review.who(conn)


def _short(record: dict[str, Any]) -> str:
    return " ".join(f"{k}={record[k]}" for k in _SHOWN if record.get(k) not in (None, ""))


@click.group(context_settings=CONTEXT)
def review() -> None:
    """区级审核：冲突、重复人员、用餐计数、迁移 (the district's review queues)."""


@review.command("list", context_settings=CONTEXT)
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
def review_list(db_path: Path) -> None:
    """列出待审核项 (list open review items; refs: c<n> conflict, r<n> review item)."""
    from fieldapp import review as rv

    conn = _conn(db_path)
    try:
        with _tx(conn):
            rv.rescan(conn)
        lines = [
            f"c{c['id']}\t冲突 conflict\t{c['kind']} {c['record_id']}\t{c['reason']}"
            for c in rv.conflicts(conn)
        ]
        for g in rv.person_groups(conn):
            names = "、".join(
                f"{r.get('name')}（{r.get('community')}）" for r in rv.group_records(conn, g)
            )
            lines.append(
                f"r{g.group_id}\t重复人员 same person?\t{g.shown_key}\t{len(g.records)} 条记录 records: {names}"
            )
        for queue, label in (("meal_slot", "用餐计数 meal slot"), ("transfer", "迁移 transfer")):
            for r in rv.reviews(conn, queue):
                lines.append(
                    f"r{r['id']}\t{label}\t{r['record_a']}\t{r['natural_key'].split('|')[0]}"
                )
    finally:
        conn.close()
    say("\n".join(lines) if lines else "没有待审核项 (nothing to review)")


class _tx:
    """One transaction for a CLI step that writes (the rescan of transfer requests)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if kind else "COMMIT")


def _show_conflict(conn: sqlite3.Connection, num: int) -> list[str]:
    from fieldapp import review as rv

    info, a, b = rv.conflict_sides(conn, num)
    out = [f"c{num} {info['kind']} {info['record_id']} {info['reason']} ({info['status']})"]
    for key, side in (("A", a), ("B", b)):
        out.append(f"{key}: {side.version_id} {side.device_id} hlc={side.hlc}")
        out.append("   " + ("已删除 deleted" if side.deleted else _short(side.payload)))
    keys = sorted(set(a.payload) | set(b.payload))
    differ = [k for k in keys if a.payload.get(k) != b.payload.get(k)]
    out.append("不同的字段 fields that differ: " + ", ".join(differ))
    for choice in ("a", "b"):
        zh, en = rv.describe_choice("conflict", choice)
        out.append(f"--keep {choice}: {zh} | {en}")
    for h in rv.history(conn, info["record_id"]):
        out.append(f"历史 history {h['ref']} {h['what']} {h['decided_by']} {h['decided_at']}")
    return out


def _show_item(conn: sqlite3.Connection, num: int) -> list[str]:
    from fieldapp import review as rv

    item = conn.execute(
        "SELECT queue, status, natural_key FROM review_items WHERE id = ?", (num,)
    ).fetchone()
    if item is None:
        raise rv.ReviewError("找不到该审核项", f"no review item {num}")
    if item["queue"] == "duplicate_person":
        g = rv.person_group(conn, num)
        out = [f"r{g.group_id} 重复人员 same person? {g.shown_key} ({item['status']})"]
        out += [
            f"  {r['id']}  {r['community']} {r['worker']}  {_short(r)}"
            for r in rv.group_records(conn, g)
        ]
        keep = str(g.records[0]["id"]) if g.records else ""
        zh, en = rv.describe_choice("duplicate_person", "same", keep=keep)
        out.append(f"--keep RECORD_ID: {zh} | {en}")
        zh, en = rv.describe_choice("duplicate_person", "different")
        out.append(f"--different: {zh} | {en}")
        return out
    if item["queue"] == "transfer":
        to = item["natural_key"].split("|")[0]
        zh, en = rv.describe_choice("transfer", "transfer", to=to)
        return [f"r{num} 迁移 transfer ({item['status']})", f"--to {to}: {zh} | {en}"]
    shown, a, b = rv.review_sides(conn, num)
    out = [f"r{num} {item['queue']} {shown['shown_key']} ({item['status']})"]
    for side in (a, b):
        out.append(f"  {side.get('id')}  " + json.dumps(side, ensure_ascii=False, default=str))
        zh, en = rv.describe_choice("meal_slot", "keep", keep=str(side.get("id")))
        out.append(f"  --keep {side.get('id')}: {zh} | {en}")
    return out


@review.command("show", context_settings=CONTEXT)
@click.argument("ref")
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
def review_show(ref: str, db_path: Path) -> None:
    """显示一项及每个选择的后果 (show an item, both sides and what each choice will do)."""
    from fieldapp import review as rv

    conn = _conn(db_path)
    try:
        table, num = rv.parse_ref(ref)
        lines = _show_conflict(conn, num) if table == "conflicts" else _show_item(conn, num)
    except rv.ReviewError as e:
        raise _refused(e) from None
    finally:
        conn.close()
    say("\n".join(lines))


def _fields(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs:
        name, _, side = p.partition("=")
        if side not in ("a", "b") or not name:
            raise click.UsageError(f"--field 须为 名称=a 或 名称=b：{p} (--field NAME=a|b)")
        out[name] = side
    return out


def _decide(conn: sqlite3.Connection, ref: str, opts: dict[str, Any], by: str) -> str:
    from fieldapp import review as rv

    table, num = rv.parse_ref(ref)
    keep, comment = opts["keep"], opts["comment"]
    if table == "conflicts":
        if keep not in ("a", "b"):
            raise click.UsageError("冲突须用 --keep a 或 --keep b (a conflict needs --keep a|b)")
        vid = rv.decide_conflict(
            conn, num, choose=keep, fields=_fields(opts["field"]), by=by, comment=comment
        )
        return f"已决定 c{num}：区级版本 {vid} (decided: district version {vid})"
    queue = conn.execute(
        "SELECT queue, natural_key FROM review_items WHERE id = ?", (num,)
    ).fetchone()
    if queue is None:
        raise rv.ReviewError("找不到该审核项", f"no review item {num}")
    if queue[0] == "duplicate_person":
        if bool(keep) == bool(opts["different"]):
            raise click.UsageError(
                "须用 --keep 记录号 或 --different 之一 (--keep RECORD_ID or --different)"
            )
        written = rv.decide_person(conn, num, keep, by=by, comment=comment)
        return f"已决定 r{num}：{len(written)} 条记录注销 ({len(written)} records cancelled)"
    if queue[0] == "meal_slot":
        if not keep:
            raise click.UsageError(
                "用餐计数须用 --keep 记录号 (a meal slot needs --keep RECORD_ID)"
            )
        vid = rv.decide_meal_slot(conn, num, keep, by=by, comment=comment)
        return f"已决定 r{num}：区级版本 {vid} (decided: district version {vid})"
    item = conn.execute("SELECT record_a FROM review_items WHERE id = ?", (num,)).fetchone()
    to = opts["to"] or str(queue[1]).split("|")[0]
    vid = rv.transfer_elder(conn, item[0], to, by=by, comment=comment)
    return f"已迁入 {to}：区级版本 {vid} (transferred: district version {vid})"


@review.command("decide", context_settings=CONTEXT)
@click.argument("ref")
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option(
    "--keep", default=None, help="a|b（冲突）或 记录号 (a|b for a conflict, else RECORD_ID)."
)
@click.option(
    "--field",
    multiple=True,
    help="名称=a|b：该字段取自哪一方 (NAME=a|b: take a field from a side).",
)
@click.option("--different", is_flag=True, help="不同的人 (different persons).")
@click.option(
    "--to", default=None, help="迁入社区代码 (transfer: the community, default the one asked)."
)
@click.option("--comment", default=None, help="说明 (comment).")
@click.option(
    "--by", default=None, help="审核人 (reviewer; default the supervisor of district init)."
)
def review_decide(ref: str, db_path: Path, by: str | None, **opts: Any) -> None:
    """作出决定：写入区级版本 (decide: writes a district version)."""
    from fieldapp import review as rv

    conn = _conn(db_path)
    try:
        say(_decide(conn, ref, opts, _by(conn, by)))
    except rv.ReviewError as e:
        raise _refused(e) from None
    finally:
        conn.close()


@review.command("undo", context_settings=CONTEXT)
@click.argument("ref")
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option("--comment", default=None, help="说明 (comment).")
@click.option(
    "--by", default=None, help="审核人 (reviewer; default the supervisor of district init)."
)
def review_undo(ref: str, db_path: Path, comment: str | None, by: str | None) -> None:
    """撤销一个决定：新的区级版本恢复决定前的内容 (undo: a new decision restoring the earlier content)."""
    from fieldapp import review as rv

    conn = _conn(db_path)
    try:
        written = rv.undo(conn, ref, by=_by(conn, by), comment=comment)
    except rv.ReviewError as e:
        raise _refused(e) from None
    finally:
        conn.close()
    click.echo(
        f"已撤销 {ref}：{len(written)} 个新的区级版本 (undone: {len(written)} district versions)"
    )


@click.command("transfer", context_settings=CONTEXT)
@click.argument("record_id")
@click.option("--to", "to", required=True, help="迁入社区代码（12位） (the new community code).")
@db_option(DISTRICT_DB_HELP, required=True, exists=True)
@click.option("--comment", default=None, help="说明 (comment).")
@click.option(
    "--by", default=None, help="审核人 (reviewer; default the supervisor of district init)."
)
def transfer(record_id: str, to: str, db_path: Path, comment: str | None, by: str | None) -> None:
    """把老人迁入区内另一社区 (transfer an elder to another community of the district)."""
    from fieldapp import review as rv

    conn = _conn(db_path)
    try:
        vid = rv.transfer_elder(conn, record_id, to, by=_by(conn, by), comment=comment)
    except rv.ReviewError as e:
        raise _refused(e) from None
    finally:
        conn.close()
    click.echo(f"已迁入 {to}：区级版本 {vid} (transferred: district version {vid})")
