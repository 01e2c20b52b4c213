"""The winner rule of SPEC §4 and §4a as one pure function of a record's versions.

Heads, eligibility by lineage (owning community, community changes, parents not yet arrived),
clock flags and the district's precedence are decided here and nowhere else: the device's store,
the district's merge and a device's import of a return bundle all call `settle`, so a record
has the same winner wherever the same versions are held, whatever order they arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_ALSO_PARENTS = 16

# why a version cannot win (it is kept: nothing is ever lost)
COMMUNITY_CHANGE = "community_change"  # a device moved the record to another community (§4a)
WAITING_PARENT = "waiting_parent"  # a parent has not arrived yet
CYCLE = "cycle"  # parents that lead back to the version itself (only a forged file does this)


@dataclass(frozen=True, slots=True)
class Node:
    """What the rule needs of one version. `community` is the payload's community_code; for a
    payload schema 1 version the caller passes the enrolment's community of the device that made
    it, or None where it is unknown (None takes the parent's owning community)."""

    version_id: str
    parent: str | None
    hlc: str
    device_id: str
    also_parents: tuple[str, ...] = ()
    district: bool = False
    community: str | None = None
    flagged: bool = False  # clock_suspect and not accepted by the supervisor

    @property
    def parents(self) -> tuple[str, ...]:
        return (self.parent, *self.also_parents) if self.parent else self.also_parents

    def rank(self) -> tuple[bool, bool, str, str, str]:
        """Among concurrent eligible heads: an unflagged clock beats a flagged one, the district
        beats a device, then the greatest (hlc, device_id, version_id)."""
        return (not self.flagged, self.district, self.hlc, self.device_id, self.version_id)


@dataclass(frozen=True)
class Settled:
    """The outcome for one record: the winner (None when no version is eligible), the eligible
    heads (the winner first; more than one is a conflict), why each other version cannot win,
    the community that owns the record by its winner's lineage, and each version's owning
    community by its own lineage (what a `community_change` review item names)."""

    winner: str | None
    heads: tuple[str, ...]
    ineligible: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    owners: dict[str, str | None] = field(default_factory=dict, compare=False)


def find_cycle(nodes: Iterable[Node]) -> str | None:
    """A version id on a cycle of parents (a self-parent included), or None. Iterative, so a long
    chain of edits never hits Python's recursion limit."""
    by_id = {n.version_id: n for n in nodes}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in by_id:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            vid, i = stack[-1]
            parents = by_id[vid].parents
            if i < len(parents):
                stack[-1] = (vid, i + 1)
                p = parents[i]
                if p not in by_id:
                    continue
                if state.get(p) == 1:
                    return p
                if not state.get(p):
                    state[p] = 1
                    stack.append((p, 0))
            else:
                state[vid] = 2
                stack.pop()
    return None


def _order(by_id: dict[str, Node]) -> tuple[list[str], set[str]]:
    """Parents before children (Kahn's algorithm over the parents present); versions left over
    sit on or below a cycle."""
    children: dict[str, list[str]] = {}
    waiting: dict[str, int] = {}
    for n in by_id.values():
        present = [p for p in set(n.parents) if p in by_id]
        waiting[n.version_id] = len(present)
        for p in present:
            children.setdefault(p, []).append(n.version_id)
    ready = sorted(v for v, k in waiting.items() if k == 0)
    order: list[str] = []
    while ready:
        vid = ready.pop()
        order.append(vid)
        for c in children.get(vid, ()):
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return order, set(by_id) - set(order)


def settle(nodes: Sequence[Node]) -> Settled:
    """Apply SPEC §4/§4a to the versions of one record."""
    by_id = {n.version_id: n for n in nodes}
    order, cyclic = _order(by_id)
    ineligible = dict.fromkeys(cyclic, CYCLE)
    owner: dict[str, str | None] = {}
    for vid in order:
        n = by_id[vid]
        parents = n.parents
        if any(p not in by_id or ineligible.get(p) in (WAITING_PARENT, CYCLE) for p in parents):
            ineligible[vid] = WAITING_PARENT
            owner[vid] = None
            continue
        if n.district or n.parent is None:
            owner[vid] = n.community if n.community is not None else owner.get(n.parent or "")
            continue
        inherited = owner[n.parent]
        owner[vid] = inherited if inherited is not None else n.community
        changed = None not in (n.community, inherited) and n.community != inherited
        if changed or any(ineligible.get(p) == COMMUNITY_CHANGE for p in parents):
            ineligible[vid] = COMMUNITY_CHANGE
    eligible = [vid for vid in order if vid not in ineligible]
    # a version with an eligible descendant is superseded: walk children before parents
    superseded: set[str] = set()
    for vid in reversed(order):
        if vid in superseded or vid not in ineligible:
            superseded.update(p for p in by_id[vid].parents if p in by_id)
    heads = sorted((by_id[v] for v in eligible if v not in superseded), key=Node.rank, reverse=True)
    if not heads:
        return Settled(None, (), ineligible, None, owner)
    return Settled(
        heads[0].version_id,
        tuple(h.version_id for h in heads),
        ineligible,
        owner[heads[0].version_id],
        owner,
    )
