"""The kernel's version, which plugins' `kernel=` ranges are checked against."""

__version__ = "0.1.0"
