"""neurodyn: from neural recordings to fitted, reverse-engineered latent dynamical models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurodyn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
