"""Day one: bring in the registers (elders, meal points, volunteers) a community already keeps in Excel or CSV."""

from __future__ import annotations

from fieldapp.roster.check import Issue
from fieldapp.roster.importer import Analysis, Options, Outcome, Progress, analyse, import_roster
from fieldapp.roster.mapping import KINDS
from fieldapp.roster.read import MAX_ROWS, RosterRefused
from fieldapp.roster.report import write_report

__all__ = [
    "KINDS",
    "MAX_ROWS",
    "Analysis",
    "Issue",
    "Options",
    "Outcome",
    "Progress",
    "RosterRefused",
    "analyse",
    "import_roster",
    "write_report",
]
