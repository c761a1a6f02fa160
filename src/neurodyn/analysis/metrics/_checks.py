"""Argument checking shared by the metric modules: conversion to float arrays and checks of shape,
mask, finiteness and positivity, each raising :class:`neurodyn.errors.NeurodynError` with a one-line message."""

from __future__ import annotations

import math

import numpy as np

from neurodyn.errors import NeurodynError


def as_float_array(name: str, value: object) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting non-numeric and empty input.

    value: any shape -> returned array: same shape.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise NeurodynError(f"{name}: cannot be read as a numeric array ({error})") from None
    if array.size == 0:
        raise NeurodynError(f"{name}: is empty (shape {array.shape})")
    return array


def check_ndim(name: str, array: np.ndarray, allowed: tuple[int, ...], layout: str) -> None:
    """Raise unless ``array.ndim`` is one of ``allowed``; ``layout`` names the expected axes."""
    if array.ndim not in allowed:
        raise NeurodynError(f"{name}: expected shape {layout}, got shape {array.shape}")


def check_same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise NeurodynError(f"{name_b}: shape {b.shape} differs from {name_a} shape {a.shape}")


def observed_mask(mask: object, shape: tuple[int, ...]) -> np.ndarray:
    """Return the observation mask (all True when ``mask`` is None).

    mask: ``shape`` boolean or None -> (``shape``) boolean.
    """
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask_array = np.asarray(mask)
    if mask_array.dtype != np.bool_:
        raise NeurodynError(f"mask: must be a boolean array, got dtype {mask_array.dtype}")
    if mask_array.shape != shape:
        raise NeurodynError(f"mask: shape {mask_array.shape} differs from data shape {shape}")
    if not mask_array.any():
        raise NeurodynError("mask: no entry is observed (mask is all False)")
    return mask_array


def check_finite(name: str, array: np.ndarray, observed: np.ndarray | None = None) -> None:
    """Raise if an (observed) entry of ``array`` is NaN or infinite."""
    bad = ~np.isfinite(array)
    if observed is not None:
        bad &= observed
    if bad.any():
        where = "observed entries" if observed is not None else "entries"
        raise NeurodynError(f"{name}: {int(bad.sum())} {where} are NaN or infinite")


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise NeurodynError(f"{name}: must be a finite number {bound}, got {value}")
    return value


def check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise NeurodynError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)
