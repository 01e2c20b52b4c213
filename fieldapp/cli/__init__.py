"""The `fieldapp` command: with no subcommand it opens the worker's TUI; subcommands do the same jobs from a shell.

Where each command lives: `root` (the group, the TUI), `worker` (init, device-key, status,
export, communities), `demo`, `district` (verify, merge, district …), `report`, `backup`; `common` holds
the `--db` option and the helpers they share.
"""

from __future__ import annotations

from fieldapp.cli import (
    analytics,
    backup,
    city,
    demo,
    district,
    ledger,
    report,
    returns,
    review,
    roster,
    secure,
    targets,
    worker,
)
from fieldapp.cli.root import main

# modules, not their commands, are imported here: `fieldapp.cli.demo` stays the module
for _command in (
    worker.init,
    worker.device_key,
    worker.status,
    worker.export,
    worker.communities,
    demo.demo,
    district.verify,
    district.merge,
    district.district,
    report.report,
    roster.import_roster,
    targets.targets,
    review.review,
    ledger.ledger,
    city.city,
    backup.backup,
):
    main.add_command(_command)
secure.register(main, district.district)  # passphrase, encrypt, district recover(-device)

district.district.add_command(review.transfer)  # fieldapp district transfer
district.district.add_command(city.publish)  # the indicator bundle for the city
district.district.add_command(analytics.analytics_export)  # de-identified Parquet
district.district.add_command(returns.return_bundles)  # fieldapp district return (SPEC §5b)
main.add_command(returns.import_bundles)  # fieldapp import: return bundles on a laptop

__all__ = ["main"]
