"""The version (a leaf: nothing here imports the package face)."""

__version__ = "0.1.0"
