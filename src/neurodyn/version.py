"""The installed package's version (a leaf module, so every layer may record it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurodyn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
