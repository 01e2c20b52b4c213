"""Benchmarks at district scale, measured by this package and never by timed unit tests.

The machines are shared and noisy: every figure is the median of several runs, and every
comparison is a ratio to a baseline measured in the same run. `python -m fieldapp.bench`
(full, ≈ 10 min on 2 cores) or `--quick` (CI, under 2 minutes); `--json FILE` keeps the table.

- `dataset`: the district's devices, sealed to a district key, cut into monthly bundles;
- `baselines`: the raw-SQL merge ceiling, sqlite-utils' upsert, a bare Textual app;
- `figures`: each measured figure, and `run`, which measures them all;
- `startup`: the TUIs' start-up against a bare Textual app, with a breakdown by phase;
- `encryption`: encrypted vs plain, side by side (also alone: `python -m fieldapp.bench.encryption`);
- `measure`: the table row, percentiles, timed child processes; `cli`: the command line.
"""

from __future__ import annotations

from .cli import main, startup
from .dataset import export_monthly
from .figures import run
from .measure import Row, machine, render

__all__ = ["Row", "export_monthly", "machine", "main", "render", "run", "startup"]
