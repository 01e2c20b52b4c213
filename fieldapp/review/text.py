"""What each review choice will do, in Chinese and English, said before it is taken: the TUI's
dialog and `fieldapp review show` print the same sentences (one home per wording)."""

from __future__ import annotations

from collections.abc import Mapping

_AFTER = ("下次回传后各设备显示", "after the next return bundle every device shows")

_TEXT: dict[tuple[str, str], tuple[str, str]] = {
    ("conflict", "a"): (
        "保留A：B的修改仍保存在历史中；{after}A",
        "Keep A: B's edit stays in the history; {after} A",
    ),
    ("conflict", "b"): (
        "保留B：A的修改仍保存在历史中；{after}B",
        "Keep B: A's edit stays in the history; {after} B",
    ),
    ("conflict", "mix"): (
        "合并：以{side}为底，{fields}取自另一方；两方的修改都保存在历史中；{after}合并后的记录",
        "Mix: {side} with {fields} from the other side; both edits stay in the history;"
        " {after} the mixed record",
    ),
    ("duplicate_person", "same"): (
        "同一人：保留 {keep}，其余记录注销（状态「已注销」，合并至 {keep}），历史不删除；{after}这一条",
        "Same person: {keep} stays, the others are cancelled (merged into {keep}), their history"
        " kept; {after} this one",
    ),
    ("duplicate_person", "different"): (
        "不同的人：各条记录照旧，只记下本决定；同一身份证号的新记录会再次提示",
        "Different persons: every record stays as it is, only the decision is recorded; a new"
        " record with this ID number asks again",
    ),
    ("meal_slot", "keep"): (
        "保留 {keep}：另一条计数被删除（仍在历史中），不再计入统计；{after}{keep}",
        "Keep {keep}: the other count is deleted (kept in the history) and no longer counted;"
        " {after} {keep}",
    ),
    ("transfer", "transfer"): (
        "转入 {to}：老人记录改属 {to}，状态恢复为「在册」；原社区的设备显示为已迁出、只读",
        "Transfer to {to}: the elder belongs to {to}, status active again; the old community's"
        " devices show the elder as moved, read-only",
    ),
    ("undo", "undo"): (
        "撤销：新建一个区级版本，恢复决定前的内容；原决定和撤销都保留在历史中",
        "Undo: a new district version restores what the record showed before; the decision and"
        " its undo both stay in the history",
    ),
}


def describe_choice(
    queue: str,
    choice: str,
    *,
    fields: Mapping[str, str] | None = None,
    keep: str = "",
    to: str = "",
) -> tuple[str, str]:
    """(zh, en) for a choice: queue 'conflict' (choice 'a', 'b'; with `fields` taken from the
    other side it is a mix), 'duplicate_person' ('same' with `keep`, 'different'), 'meal_slot'
    ('keep' with `keep`), 'transfer' (with `to`), 'undo'."""
    mixed = sorted(f for f, side in (fields or {}).items() if side != choice)
    key = (queue, "mix" if queue == "conflict" and mixed else choice)
    if key not in _TEXT:
        raise KeyError(f"no choice {choice!r} in {queue!r}")
    zh, en = _TEXT[key]
    names = "、".join(mixed)
    return (
        zh.format(after=_AFTER[0], side=choice.upper(), fields=names, keep=keep, to=to),
        en.format(after=_AFTER[1], side=choice.upper(), fields=", ".join(mixed), keep=keep, to=to),
    )
