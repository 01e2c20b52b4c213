"""The benchmark's start-up children: one script, parametrised by app, measures each app in the same phases."""

from __future__ import annotations

from pathlib import Path

from fieldapp.bench.startup import APP_CHILD, DEVICE, DISTRICT, INDICATORS, run_child
from fieldapp.store import Store

from .conftest import COMMUNITY, STREET

PHASES = ["python", "imports", "open", "first_screen", "exit"]


def test_one_child_script_measures_each_app_in_the_same_phases(tmp_path: Path) -> None:
    """Review: three near-identical scripts became one. Each app still reaches its first screen
    with data (the merge screen's scan of an empty folder is `[]`, which counts as done) and the
    child reports the five phases the startup row and `bench startup` print."""
    device, district, usb = tmp_path / "device.db", tmp_path / "district.db", tmp_path / "usb"
    with Store.open(device) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    with Store.open(district) as s:
        s.setup_district()
    usb.mkdir()
    children = [
        DEVICE.args(device),
        DISTRICT.args(district, usb),
        INDICATORS.args(district, usb),
    ]
    assert {c[2] for c in children} == {APP_CHILD}
    for child in children:
        wall, _cpu, phases = run_child(child)
        assert list(phases) == PHASES, child[3:]
        inside = sum(phases[name][0] for name in PHASES[1:])
        assert 0 < inside < wall * 1000  # the interpreter's own start is the rest
