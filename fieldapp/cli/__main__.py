"""`python -m fieldapp.cli`: the same command as the `fieldapp` console script."""

from __future__ import annotations

import os

from fieldapp.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.environ.get("FIELDAPP_PROG", "fieldapp"))
