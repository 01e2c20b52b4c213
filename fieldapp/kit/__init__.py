"""The offline installation kit: wheels, hashes and install scripts for laptops without network."""

from fieldapp.kit.spec import PLATFORMS, KitError, Platform, pinned_dependencies

__all__ = ["PLATFORMS", "KitError", "Platform", "pinned_dependencies"]
