"""tipbox: secure anonymous tip submission for newsrooms."""

__version__ = "0.1.0"
