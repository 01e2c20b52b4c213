"""Sync bundles: export on the device, verify anywhere, merge at the district (SPEC §5–§6)."""

# The keys moved below the store (fieldapp/crypto.py); `from fieldapp.sync import crypto` still
# works for code written before the move. Import `from fieldapp import crypto` in new code.
from fieldapp import crypto as crypto
