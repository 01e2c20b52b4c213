"""`python -m fieldapp.bench [--quick] [--json out.json]`, and `python -m fieldapp.bench startup --db …`."""

from fieldapp.bench.cli import main

main()
