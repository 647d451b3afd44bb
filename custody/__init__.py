"""custody: privacy-by-construction tooling for managed IT providers."""

__version__ = "0.1.0"
