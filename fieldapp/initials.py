"""The pinyin initials of each Chinese character, every reading's, the common one first (长 → z, c):
what a name's search initials are made of (`store.rows._initials`).

They come from pypinyin's table of single characters (its PINYIN_DICT, no phrases), kept in
`initials.txt` next to this file: one line per distinct list of initials, then its characters.
Loaded as an array indexed by code point (+0.9 MB and 12 ms, on first use), it replaces
importing pypinyin in every process that saves or merges a name, which held its whole table
(about 11 MB: issue 20, the merge's peak memory, where both of its processes build names'
initials). `python -m fieldapp.initials` writes the file again from the installed pypinyin; a
test keeps the two equal."""

from __future__ import annotations

import functools
import os
import sys
from array import array
from pathlib import Path

FILE = Path(__file__).with_name("initials.txt")
_SIZE = 0x40000  # code points below this (the CJK blocks through extension H); none above


@functools.cache
def _table() -> tuple[array[int], tuple[tuple[str, ...], ...]]:
    """Each code point's list of initials (an index into the lists; 0: none), and the lists."""
    index = array("H", bytes(2 * _SIZE))
    lists: list[tuple[str, ...]] = [()]
    for line in FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        heads, _, chars = line.partition(" ")
        lists.append(tuple(heads.split(",")))
        n = len(lists) - 1
        for ch in chars:
            index[ord(ch)] = n
    return index, tuple(lists)


def of(ch: str) -> tuple[str, ...]:
    """The initials of every reading of one character, the common one first; none for what is
    not a Chinese character (or not one character)."""
    if len(ch) != 1 or ord(ch) >= _SIZE:
        return ()
    index, lists = _table()
    return lists[index[ord(ch)]]


def from_pypinyin() -> dict[str, tuple[str, ...]]:
    """Every character of pypinyin's table with its initials, as `of` gives them (the source of
    `initials.txt`; pypinyin's dictionary of phrases is not loaded)."""
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
    from pypinyin import Style
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.style import convert

    out = {}
    for code, readings in PINYIN_DICT.items():
        heads = (convert(r, Style.FIRST_LETTER, strict=True).lower() for r in readings.split(","))
        found = tuple(dict.fromkeys(h for h in heads if h))
        if found:
            out[chr(code)] = found
    return out


def text_of(table: dict[str, tuple[str, ...]]) -> str:
    """`initials.txt` for a table: its lists in order of first appearance by code point."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for ch in sorted(table):
        groups.setdefault(table[ch], []).append(ch)
    from importlib.metadata import version

    head = (
        "# pinyin initials of each Chinese character, every reading's, the common one first:\n"
        f"# from pypinyin {version('pypinyin')} (PINYIN_DICT), by `python -m fieldapp.initials`.\n"
        "# each line: the initials (comma-separated), a space, the characters that have them\n"
    )
    return head + "".join(f"{','.join(k)} {''.join(v)}\n" for k, v in groups.items())


def main() -> None:
    table = from_pypinyin()
    if any(ord(ch) >= _SIZE or any("," in h or " " in h for h in hs) for ch, hs in table.items()):
        sys.exit("a character or an initial this file format cannot hold")
    FILE.write_text(text_of(table), encoding="utf-8")
    print(f"{FILE}: {len(table)} characters")


if __name__ == "__main__":
    main()
