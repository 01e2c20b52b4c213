"""`python -m fieldapp.bench merge`: the merge alone at a chosen scale, with the reader process and
in one process, against the raw-SQL ceiling (issue 20's scale 4, run here at a tiny scale)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.bench.cli import main
from fieldapp.sqlite import sqlite3


def _versions(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT version_id, content_hash FROM versions ORDER BY 1").fetchall()
    finally:
        conn.close()


def test_merge_command_merges_with_both_cores_and_with_one_and_reports_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")
    work, out = tmp_path / "work", tmp_path / "merge.json"
    result = CliRunner().invoke(
        main, ["merge", "--scale", "0.01", "--runs", "1", "--work", str(work), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = json.loads(out.read_text(encoding="utf-8"))
    rows = {r["figure"]: r for r in table["rows"]}
    assert table["machine"]["scale"] == 0.01
    both = rows["merge throughput (versions/s)"]
    one = rows["merge throughput in one process (versions/s)"]
    assert (
        both["median"] > 0
        and one["median"] > 0
        and rows["raw-SQL limit (versions/s)"]["median"] > 0
    )
    # the ratio printed is both cores against one, as measured
    assert one["ratio"] == pytest.approx(both["median"] / one["median"], abs=0.01)
    # the reader process took part in the first merge only (forced: the data are tiny)
    memory = rows["merge peak memory (MB), this scale"]
    assert "the reader's" in memory["note"]
    # both merges hold the same versions
    merged = _versions(work / "district0.db")
    assert merged and merged == _versions(work / "one0.db")
