"""neurodyn: from neural recordings to fitted, reverse-engineered latent dynamical models.

The Python API (:mod:`neurodyn.api`) is available from the package itself::

    import neurodyn
    ds = neurodyn.ingest("session.nwb", bin_size_s=0.02)
    model = neurodyn.fit(ds, "lds", latent_dim=6)
    result = neurodyn.evaluate(model, ds)
"""

from neurodyn.version import __version__

API = ("Model", "evaluate", "families", "fit", "ingest", "load_model", "open_dataset", "write_report")


def __getattr__(name: str):
    # the API loads torch and xarray: imported on first use, so that `import neurodyn` and the
    # command line's start-up stay light
    if name in API:
        from neurodyn import api

        return getattr(api, name)
    raise AttributeError(f"module 'neurodyn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])


__all__ = ["__version__", *API]
