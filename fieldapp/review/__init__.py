"""The district's review: queues (`queues`), decisions written as district versions (`decide`,
`transfer`), undo as one more decision (`undo`), the wording of each choice (`text`) and the
migration of release-1 decisions (`migrate`). `fieldapp.review` keeps the names of release 1."""

from __future__ import annotations

from fieldapp.review.decide import decide_conflict, decide_meal_slot, decide_person, decide_review
from fieldapp.review.migrate import decisions_to_versions
from fieldapp.review.queues import (
    PersonGroup,
    ReviewError,
    Side,
    conflict_sides,
    conflicts,
    counts,
    group_records,
    person_group,
    person_groups,
    rejected,
    review_sides,
    reviews,
    supervisor,
    who,
)
from fieldapp.review.text import describe_choice
from fieldapp.review.transfer import offer_transfer, rescan, transfer_elder
from fieldapp.review.undo import history, parse_ref, recent, undo

__all__ = [
    "PersonGroup",
    "ReviewError",
    "Side",
    "conflict_sides",
    "conflicts",
    "counts",
    "decide_conflict",
    "decide_meal_slot",
    "decide_person",
    "decide_review",
    "decisions_to_versions",
    "describe_choice",
    "group_records",
    "history",
    "offer_transfer",
    "parse_ref",
    "person_group",
    "person_groups",
    "recent",
    "rejected",
    "rescan",
    "review_sides",
    "reviews",
    "supervisor",
    "transfer_elder",
    "undo",
    "who",
]
