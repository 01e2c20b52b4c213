"""The benchmark's start-up children: one script, parametrised by app, measures each app in the same phases."""

from __future__ import annotations

from pathlib import Path

from fieldapp.bench import baselines
from fieldapp.bench.measure import py
from fieldapp.bench.startup import _PHASES, APP_CHILD, DEVICE, DISTRICT, INDICATORS, run_child
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
    # the bare app's child, after the same phase marks, reports the same phases
    children.append(py(_PHASES + baselines.BARE_APP_CHILD))
    for child in children:
        run = run_child(child)
        assert list(run.phases) == PHASES, child[3:]
        inside = sum(run.phases[name][0] for name in PHASES[1:])
        assert 0 < inside < run.wall * 1000  # the interpreter's own start and end are the rest
        # its first screen, on its clock against ours: after its imports, before its end
        to_shown = sum(run.phases[name][0] for name in PHASES[1:4]) / 1000
        assert to_shown < run.shown < run.wall


def test_the_bare_app_alone_marks_nothing() -> None:
    """The encryption benchmark runs the bare app without the phase marks."""
    run = run_child(py(baselines.BARE_APP_CHILD))
    assert run.phases == {} and run.shown == 0.0 and run.wall > 0
