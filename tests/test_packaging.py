"""schema.sql and seed/ are inside the wheel, so `pip install .` works outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source checkout")
def test_wheel_carries_schema_and_seed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(tmp_path.glob("fieldapp-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "fieldapp/_data/schema.sql" in names
    for f in (ROOT / "seed").iterdir():
        assert f"fieldapp/_data/seed/{f.name}" in names
    assert any(n.endswith("entry_points.txt") for n in names)
