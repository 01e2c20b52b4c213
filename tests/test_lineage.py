"""The winner rule (SPEC §4, §4a) as a pure function: descent, concurrency, district precedence,
clock flags, community changes, parents not yet arrived, cycles."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.lineage import (
    COMMUNITY_CHANGE,
    CYCLE,
    WAITING_PARENT,
    Node,
    find_cycle,
    settle,
)

A, B = "321202001901", "321202001902"


def n(vid: str, parent: str | None, hlc: str, dev: str = "d1", **kw: object) -> Node:
    return Node(vid, parent, f"{hlc:0>13}-00000", dev, **kw)  # type: ignore[arg-type]


def test_a_descendant_beats_its_ancestor_whatever_the_clocks_say() -> None:
    s = settle([n("v1", None, "9", community=A), n("v2", "v1", "1", community=A)])
    assert (s.winner, s.heads, s.owner) == ("v2", ("v2",), A)


def test_concurrent_heads_the_greatest_hlc_wins_and_both_are_heads() -> None:
    s = settle(
        [
            n("v1", None, "1", community=A),
            n("v2", "v1", "2", "d1", community=A),
            n("v3", "v1", "3", "d2", community=A),
        ]
    )
    assert (s.winner, s.heads) == ("v3", ("v3", "v2"))


def test_a_district_version_beats_a_later_device_version() -> None:
    s = settle(
        [
            n("v1", None, "1", community=A),
            n("v2", "v1", "5", "d1", community=A),
            n("v3", "v1", "2", "dist", district=True, community=A),
        ]
    )
    assert s.winner == "v3" and set(s.heads) == {"v2", "v3"}


def test_a_resolution_ends_the_conflict_through_also_parents() -> None:
    s = settle(
        [
            n("v1", None, "1", community=A),
            n("v2", "v1", "2", "d1", community=A),
            n("v3", "v1", "3", "d2", community=A),
            n("r", "v3", "4", "dist", also_parents=("v2",), district=True, community=A),
        ]
    )
    assert (s.winner, s.heads) == ("r", ("r",))


def test_a_flagged_clock_loses_to_a_concurrent_head_but_wins_alone() -> None:
    flagged = n("v3", "v1", "9999999999999", "d2", community=A, flagged=True)
    s = settle([n("v1", None, "1", community=A), n("v2", "v1", "2", community=A), flagged])
    assert s.winner == "v2"
    assert settle([n("v1", None, "1", community=A), flagged]).winner == "v3"


def test_a_device_moving_a_record_to_another_community_never_wins_nor_its_descendants() -> None:
    s = settle(
        [
            n("v1", None, "1", "dA", community=A),
            n("v2", "v1", "5", "dB", community=B),
            n("v3", "v2", "6", "dB", community=B),
        ]
    )
    assert (s.winner, s.heads, s.owner) == ("v1", ("v1",), A)
    assert s.ineligible == {"v2": COMMUNITY_CHANGE, "v3": COMMUNITY_CHANGE}


def test_a_district_transfer_moves_the_owning_community() -> None:
    s = settle(
        [
            n("v1", None, "1", "dA", community=A),
            n("t", "v1", "2", "dist", district=True, community=B),
            n("v3", "t", "3", "dB", community=B),
            n("v4", "t", "4", "dA", community=A),
        ]
    )
    assert s.winner == "v3" and s.owner == B and s.ineligible == {"v4": COMMUNITY_CHANGE}


def test_a_version_whose_parent_has_not_arrived_is_not_eligible() -> None:
    s = settle([n("v1", None, "1", community=A), n("v3", "v2", "3", community=A)])
    assert (s.winner, s.ineligible) == ("v1", {"v3": WAITING_PARENT})
    assert settle([n("v3", "v2", "3", community=A)]).winner is None


def test_cycles_and_self_parents_are_found_and_never_win() -> None:
    loop = [n("v1", "v2", "1", community=A), n("v2", "v1", "2", community=A)]
    assert find_cycle(loop) in {"v1", "v2"}
    assert find_cycle([n("v1", "v1", "1")]) == "v1"
    assert find_cycle([n("v1", None, "1"), n("v2", "v1", "2")]) is None
    s = settle(loop)
    assert s.winner is None and s.ineligible == {"v1": CYCLE, "v2": CYCLE}


def test_a_long_chain_settles_without_recursion() -> None:
    chain = [n("v0", None, "1", community=A)]
    chain += [n(f"v{i}", f"v{i - 1}", str(i + 1), community=A) for i in range(1, 5000)]
    assert find_cycle(chain) is None
    assert settle(chain).winner == "v4999"


@st.composite
def histories(draw: st.DrawFn) -> list[Node]:
    """Random honest and malicious edits of one record by 3 devices and the district."""
    count = draw(st.integers(1, 12))
    nodes: list[Node] = []
    for i in range(count):
        parent = draw(st.sampled_from([None] + [x.version_id for x in nodes])) if nodes else None
        also: tuple[str, ...] = ()
        if nodes and draw(st.booleans()):
            also = tuple(draw(st.sets(st.sampled_from([x.version_id for x in nodes]), max_size=3)))
        dev = draw(st.sampled_from(["d1", "d2", "mal", "dist"]))
        community = B if dev == "mal" and draw(st.booleans()) else A
        nodes.append(
            n(
                f"v{i:02}",
                parent if i else None,
                str(draw(st.integers(1, 50))),
                dev,
                also_parents=tuple(a for a in also if a != parent),
                district=dev == "dist",
                community=community,
                flagged=draw(st.integers(0, 9)) == 0,
            )
        )
    return nodes


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms())
def test_the_outcome_depends_on_the_set_of_versions_not_their_order(
    nodes: list[Node], rnd: random.Random
) -> None:
    shuffled = nodes[:]
    rnd.shuffle(shuffled)
    assert settle(nodes) == settle(shuffled)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_no_device_community_change_ever_wins_and_every_head_is_eligible(nodes: list[Node]) -> None:
    s = settle(nodes)
    by_id = {x.version_id: x for x in nodes}
    for h in s.heads:
        assert h not in s.ineligible
    if s.winner is not None:
        w = by_id[s.winner]
        while not w.district and w.parent is not None:  # up to the root or a district version
            assert w.community == s.owner
            w = by_id[w.parent]
        assert w.community == s.owner
        w = by_id[s.winner]
        assert all(s.winner == h or not by_id[h].rank() > w.rank() for h in s.heads)


def test_each_versions_owning_community_is_reported_for_the_review_item() -> None:
    s = settle(
        [
            n("v1", None, "1", community=A),
            n("v2", "v1", "2", "thief", community=B),  # moves A's record to B
            n("v3", "v2", "3", community=A),  # descends from the move
            n("v4", None, "1", "late", community=None),  # a schema 1 root of an unknown device
        ]
    )
    assert s.ineligible == {"v2": COMMUNITY_CHANGE, "v3": COMMUNITY_CHANGE}
    assert s.owners == {"v1": A, "v2": A, "v3": A, "v4": None}
    assert (s.winner, s.heads) == ("v4", ("v4", "v1"))  # equal hlc: the greater device_id
