"""Issue 13 point 6: no value printed in a message carries a control character or a terminal
escape (`fieldapp.text.clean`, the CLI's group, the review commands), and the review shows an age,
never a birth date, beside a masked ID number."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.text import clean

from .tui.evil_world import EVIL, MARK, OSC, EvilWorld, build


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> EvilWorld:
    return build(tmp_path_factory.mktemp("evil"))


def _run(*args: str | Path) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def test_clean_drops_escape_sequences_whole_and_keeps_newlines_only_when_asked() -> None:
    assert clean(EVIL) == f"{MARK}红"  # the OSC title sequence and its BEL gone, not only ESC
    assert clean("a\x1b[31mred\x1b[0m\tb\nc") == "ared b c"
    assert clean("a\nb\r\x07c\td", lines=True) == "a\nb c\td"
    assert clean("\u202eevil\x9b2J") == "evil"  # a bidi override, a C1 CSI
    assert clean("abcdef", 4) == "abc…"


def test_review_list_and_show_print_names_reasons_and_ids_without_escapes(
    evil: EvilWorld,
) -> None:
    code, out = _run("review", "list", "--db", evil.district_db)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    lines = out.splitlines()
    assert lines[0].endswith(f"\t{MARK}红")  # the conflict's reason, literal
    assert lines[1].startswith("r1\t重复人员 same person?\t3212***********")
    code, out = _run("review", "show", "c1", "--db", evil.district_db)
    assert code == 0 and "\x1b" not in out and "]0;x" not in out
    assert out.count(f"name={MARK}红") == 2
    assert "1944-03-12" not in out and "age=" in out and "birth_date" not in out


def test_a_refusal_quoting_an_escape_is_cleaned_and_keeps_its_exit_code(
    evil: EvilWorld,
) -> None:
    code, out = _run("review", "show", f"c{OSC}9", "--db", evil.district_db)
    assert code == 1 and "\x1b" not in out and "\x07" not in out
    assert "：c9（" in out  # the reference as typed, its escape removed
    code, out = _run("review", "show", "--db", evil.district_db)  # no reference: usage, code 2
    assert code == 2 and "Usage:" in out
