"""fieldapp: offline records of elderly-care work in 海陵区, synced to the district by monthly bundles."""

__version__ = "0.1.0"
