"""The hybrid logical clock never goes backwards, whatever the wall clock does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fieldapp import hlc


@given(
    st.lists(
        st.one_of(
            st.integers(0, 9_999_999_999_999).map(lambda w: ("wall", w)),
            st.tuples(st.just("seen"), st.integers(0, 9_999_999_999_999), st.integers(0, 99_999)),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_ticks_strictly_increase_and_stay_above_everything_seen(steps: list[tuple]) -> None:
    wall = [0]
    clock = hlc.Clock(now=lambda: wall[0])
    last = hlc.ZERO
    highest_seen = hlc.ZERO
    for step in steps:
        if step[0] == "wall":
            wall[0] = step[1]
        else:
            seen = hlc.fmt(step[1], step[2])
            adopted = clock.observe(seen)
            # a stamp more than a day ahead of the wall clock is never adopted (SPEC §4 v2)
            assert adopted == (step[1] <= wall[0] + hlc.MAX_ADOPT_AHEAD_MS and seen > last)
            if adopted:
                highest_seen = max(highest_seen, seen)
        stamp = clock.tick()
        assert stamp > last
        assert stamp > highest_seen
        assert hlc.parse(stamp)[0] >= min(wall[0], hlc.parse(stamp)[0])
        last = stamp


def test_wall_clock_going_back_keeps_the_ms_and_counts_up() -> None:
    wall = [1_762_131_600_000]
    clock = hlc.Clock(now=lambda: wall[0])
    a = clock.tick()
    wall[0] -= 60_000
    b = clock.tick()
    assert a == "1762131600000-00000" and b == "1762131600000-00001"
    wall[0] += 120_000
    assert clock.tick() == "1762131660000-00000"


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    clock = hlc.Clock("1762131600000-99999", now=lambda: 0)
    assert clock.tick() == "1762131600001-00000"


def test_a_forged_far_future_stamp_is_not_adopted_and_the_clock_goes_on() -> None:
    wall = [1_762_131_600_000]
    clock = hlc.Clock(now=lambda: wall[0])
    first = clock.tick()
    assert clock.observe("9999999999999-99999") is False
    assert clock.last == first
    assert clock.tick() == "1762131600000-00001"  # 13 digits, no overflow
    # a stamp exactly one day ahead is adopted; one ms more is not
    assert clock.observe(hlc.fmt(wall[0] + hlc.MAX_ADOPT_AHEAD_MS, 7)) is True
    assert clock.tick() == hlc.fmt(wall[0] + hlc.MAX_ADOPT_AHEAD_MS, 8)
    assert clock.observe(hlc.fmt(wall[0] + hlc.MAX_ADOPT_AHEAD_MS + 1, 0)) is False


def test_observe_ignores_what_is_not_an_hlc() -> None:
    clock = hlc.Clock("1762131600000-00003", now=lambda: 1_762_131_600_000)
    for junk in ("", "abc", "1-2-3", "1762131600000-999999"):
        assert clock.observe(junk) is False
    assert clock.last == "1762131600000-00003"
