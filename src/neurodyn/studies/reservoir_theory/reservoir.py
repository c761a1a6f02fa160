"""Finite reservoir networks trained to hold fixed points (Rivkind & Barak, PRL 2017).

The network (Eq. 1, zero input u ≡ 0 unless given)::

    ẋ = −x + W r + w_FB z + w_in u,   r = φ(x),   z = w_outᵀ r,   W_ij ~ N(0, g²/N)

is trained by *breaking the loop* (Eq. 2): each target level A_m is injected through the
feedback weights (z clamped to A_m), the open-loop fixed point x̄_m of Eq. 3,
x̄ = W φ(x̄) + w_FB A_m, is found from x = 0, and the readout is the minimum-norm solution of
w_outᵀ φ(x̄_m) = A_m for all M targets (the least-squares readout of Eq. 16). Every x̄_m is then
a fixed point of the closed loop, whose linearisation is Eq. 4::

    J = −I + (W + w_FB w_outᵀ) R',   R' = diag(φ'(x̄_m)).

Its spectrum is the open-loop disk of radius ρ (ρ² = g²⟨r'²⟩, centred on −1) plus M outliers
predicted by the mean-field theory in :mod:`neurodyn.studies.reservoir_theory.mft`. The finite-N open-loop gain
G_OL(ω) = w_outᵀ R' (I(1 + iω) − W R')⁻¹ w_FB (Eqs. 5–6) is what the theory's Eq. 13 / 17
approximates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neurodyn.errors import ConfigError, NeurodynError

PHI_NAMES = ("tanh", "relu")
FB_DISTRIBUTIONS = ("normal", "uniform")
DEFAULT_RELU_THRESHOLD = 0.1  # the paper's φ(x) = max(0, x − 0.1) (Fig. 1C)


class FixedPointError(NeurodynError):
    """The open-loop fixed point (Eq. 3) could not be found to the requested tolerance."""


@dataclass(frozen=True)
class Nonlinearity:
    """φ and φ' for ``tanh`` or the thresholded ReLU φ(x) = max(0, x − θ).

    ``breakpoints`` are the x where φ or φ' is not smooth (quadrature splits there);
    ``growth`` = lim_{s→∞} ⟨φ(√s ξ)²⟩ / s (0 for a bounded φ, ½ for a ReLU): with g²·growth ≥ 1
    the variance recursion of Eq. 8 has no finite solution.
    """

    name: str
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in PHI_NAMES:
            raise ConfigError("phi", f"must be one of {', '.join(PHI_NAMES)}, got {self.name!r}")
        if not math.isfinite(self.threshold):
            raise ConfigError("threshold", f"must be finite, got {self.threshold!r}")
        if self.name == "tanh" and self.threshold != 0.0:
            raise ConfigError("threshold", "only the relu nonlinearity takes a threshold")

    def __call__(self, x):
        if self.name == "tanh":
            return np.tanh(x)
        return np.maximum(0.0, x - self.threshold)

    def derivative(self, x):
        if self.name == "tanh":
            return 1.0 - np.tanh(x) ** 2
        return (np.asarray(x) > self.threshold).astype(float)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return () if self.name == "tanh" else (float(self.threshold),)

    @property
    def growth(self) -> float:
        return 0.0 if self.name == "tanh" else 0.5

    def __str__(self) -> str:
        return "tanh" if self.name == "tanh" else f"relu(threshold={self.threshold:g})"


def make_nonlinearity(phi: str | Nonlinearity = "tanh", threshold: float | None = None) -> Nonlinearity:
    """``"tanh"`` or ``"relu"`` (threshold default 0.1, the paper's value) → :class:`Nonlinearity`."""
    if isinstance(phi, Nonlinearity):
        if threshold is not None and threshold != phi.threshold:
            raise ConfigError("threshold", f"{phi} already has threshold {phi.threshold:g}, got {threshold:g}")
        return phi
    name = str(phi).lower()
    if name == "relu":
        return Nonlinearity("relu", DEFAULT_RELU_THRESHOLD if threshold is None else float(threshold))
    if threshold not in (None, 0, 0.0):
        raise ConfigError("threshold", f"only the relu nonlinearity takes a threshold, got phi={phi!r}")
    return Nonlinearity(name)


def sample_feedback(rng: np.random.Generator, n: int, fb: str = "uniform", scale: float = 1.0) -> np.ndarray:
    """n i.i.d. feedback weights: N(0, scale²) (``normal``) or U(−scale, scale) (``uniform``)."""
    if fb == "normal":
        return scale * rng.standard_normal(n)
    if fb == "uniform":
        return rng.uniform(-scale, scale, n)
    raise ConfigError("fb", f"must be one of {', '.join(FB_DISTRIBUTIONS)}, got {fb!r}")


def eigenvalues(matrix: np.ndarray, device: str | None = None) -> np.ndarray:
    """Eigenvalues of a dense real matrix.

    ``device`` None or ``"numpy"``: LAPACK through numpy; ``"cpu"``, ``"cuda"`` or ``"cuda:k"``:
    ``torch.linalg.eigvals`` on that torch device (float64); ``"auto"``: CUDA when present, else numpy.
    """
    if device in (None, "numpy"):
        return np.linalg.eigvals(matrix)
    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return np.linalg.eigvals(matrix)
        device = "cuda"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", f"{device!r} requested but no CUDA device is available")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError("device", str(exc))
    values = torch.linalg.eigvals(torch.as_tensor(np.asarray(matrix, dtype=np.float64), device=dev))
    return values.cpu().numpy()


def outlier_eigenvalues(eigs: np.ndarray, rho: float, n_units: int, margin: float | None = None) -> np.ndarray:
    """Eigenvalues outside the open-loop bulk disk |λ + 1| ≤ ρ, rightmost first.

    The finite-N bulk edge fluctuates, so an eigenvalue counts as an outlier only beyond
    ρ·(1 + margin); the default margin 2·√(log N / N) (≈ 0.12 at N = 1000) covers the edge
    fluctuations of N ≤ 5000 random networks seen in practice.
    """
    if margin is None:
        margin = 2.0 * math.sqrt(math.log(n_units) / n_units)
    eigs = np.asarray(eigs)
    out = eigs[np.abs(eigs + 1.0) > rho * (1.0 + margin)]
    return out[np.argsort(-out.real, kind="stable")]


def _converged(res: np.ndarray, tol: float) -> bool:
    return bool(np.max(np.abs(res)) <= tol)


@dataclass
class Reservoir:
    """A random reservoir (Eq. 1): ``W`` (N×N, N(0, g²/N)), ``w_fb``, ``w_in`` (N,), ``phi``."""

    W: np.ndarray
    w_fb: np.ndarray
    w_in: np.ndarray
    phi: Nonlinearity
    g: float
    seed: int | None = None

    @classmethod
    def random(
        cls,
        n_units: int,
        g: float,
        phi: str | Nonlinearity = "tanh",
        *,
        threshold: float | None = None,
        fb: str = "uniform",
        fb_scale: float = 1.0,
        seed: int | None = 0,
    ) -> Reservoir:
        """Seeded W_ij ~ N(0, g²/N); w_FB and w_in i.i.d. from ``fb`` (N(0, s²) or U(−s, s))."""
        if n_units < 2:
            raise ConfigError("n_units", f"must be at least 2, got {n_units}")
        if not (math.isfinite(g) and g > 0):
            raise ConfigError("g", f"must be a positive finite gain, got {g!r}")
        nl = make_nonlinearity(phi, threshold)
        rng = np.random.default_rng(seed)
        W = rng.standard_normal((n_units, n_units)) * (g / math.sqrt(n_units))
        w_fb = sample_feedback(rng, n_units, fb, fb_scale)
        w_in = sample_feedback(rng, n_units, fb, fb_scale)
        return cls(W=W, w_fb=w_fb, w_in=w_in, phi=nl, g=float(g), seed=seed)

    @property
    def n_units(self) -> int:
        return self.W.shape[0]

    def open_loop_fixed_point(
        self,
        amplitude: float,
        *,
        x0: np.ndarray | None = None,
        tol: float = 1e-10,
        damping: float = 0.5,
        max_iter: int = 5000,
        newton_steps: int = 30,
    ) -> np.ndarray:
        """x̄ solving x̄ = W φ(x̄) + w_FB A (Eq. 3), from x = 0 unless ``x0`` is given.

        Damped iteration x ← x + η(−x + W φ(x) + w_FB A) (η = ``damping``: Euler steps of the
        clamped open loop, Eq. 2) until the residual is below 1e−6, then Newton steps with the
        dense Jacobian −I + W R' to ``tol`` (max-norm of the residual). Raises
        :class:`FixedPointError` when neither converges (e.g. a chaotic open loop, ρ ≥ 1).
        """
        b = self.w_fb * float(amplitude)
        x = np.zeros(self.n_units) if x0 is None else np.array(x0, dtype=float)
        res = -x + self.W @ self.phi(x) + b
        coarse = max(tol, 1e-6)
        for _ in range(max_iter):
            if _converged(res, coarse):
                break
            x = x + damping * res
            res = -x + self.W @ self.phi(x) + b
        eye = np.eye(self.n_units)
        for _ in range(newton_steps):
            if _converged(res, tol):
                return x
            jac = -eye + self.W * self.phi.derivative(x)[None, :]
            try:
                step = np.linalg.solve(jac, res)
            except np.linalg.LinAlgError:
                break
            # backtracking on the residual norm keeps Newton from leaving the basin
            norm0, t, improved = np.linalg.norm(res), 1.0, False
            while t > 1e-4:
                x_try = x - t * step
                res_try = -x_try + self.W @ self.phi(x_try) + b
                if np.linalg.norm(res_try) < norm0:
                    improved = True
                    break
                t *= 0.5
            if not improved:
                break
            x, res = x_try, res_try
        if _converged(res, tol):
            return x
        raise FixedPointError(
            f"open-loop fixed point for A = {amplitude:g} (N = {self.n_units}, g = {self.g:g}, "
            f"{self.phi}) not found: residual {np.max(np.abs(res)):.2e} > {tol:.0e}; the driven "
            f"open loop may lack fading memory"
        )

    def train(self, targets, *, ridge: float = 0.0, tol: float = 1e-10) -> TrainedReservoir:
        """Train the readout on fixed-point targets A_1..A_M by breaking the loop (Eqs. 2–3, 16).

        ``ridge`` = 0 gives the minimum-norm exact solution (M ≤ N); > 0 a ridge regression
        w_out = R̄ᵀ(R̄R̄ᵀ + ridge·I)⁻¹A.
        """
        targets = np.atleast_1d(np.asarray(targets, dtype=float))
        if targets.ndim != 1 or targets.size < 1 or not np.all(np.isfinite(targets)):
            raise ConfigError("targets", f"must be a non-empty list of finite numbers, got {targets!r}")
        if targets.size >= self.n_units:
            raise ConfigError("targets", f"needs fewer targets than units (M = {targets.size}, N = {self.n_units})")
        xs = np.stack([self.open_loop_fixed_point(a, tol=tol) for a in targets])
        rates = self.phi(xs)  # M × N
        gram = rates @ rates.T
        if ridge > 0:
            w_out = rates.T @ np.linalg.solve(gram + ridge * np.eye(targets.size), targets)
        else:
            w_out = np.linalg.lstsq(rates, targets, rcond=None)[0]  # minimum-norm solution
        return TrainedReservoir(reservoir=self, targets=targets, x=xs, w_out=w_out)


@dataclass
class TrainedReservoir:
    """A reservoir with a trained readout: targets (M,), open-loop fixed points ``x`` (M×N), ``w_out``."""

    reservoir: Reservoir
    targets: np.ndarray
    x: np.ndarray
    w_out: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_units(self) -> int:
        return self.reservoir.n_units

    def readout_error(self) -> float:
        """max_m |w_outᵀ φ(x̄_m) − A_m| (0 up to round-off for the minimum-norm readout)."""
        return float(np.max(np.abs(self.reservoir.phi(self.x) @ self.w_out - self.targets)))

    def _r_prime(self, m: int) -> np.ndarray:
        return self.reservoir.phi.derivative(self.x[m])

    def jacobian(self, m: int = 0) -> np.ndarray:
        """Closed-loop Jacobian at the m-th trained fixed point, J = −I + (W + w_FB w_outᵀ) R' (Eq. 4)."""
        res = self.reservoir
        return -np.eye(self.n_units) + (res.W + np.outer(res.w_fb, self.w_out)) * self._r_prime(m)[None, :]

    def open_loop_jacobian(self, m: int = 0) -> np.ndarray:
        """−I + W R': the linearised clamped open loop (Eqs. 2, 5)."""
        return -np.eye(self.n_units) + self.reservoir.W * self._r_prime(m)[None, :]

    def bulk_radius(self, m: int = 0) -> float:
        """ρ = g·√⟨r'²⟩ (the paper's ρ² = g²⟨r'²⟩), the radius of the disk of W R'."""
        return float(self.reservoir.g * math.sqrt(np.mean(self._r_prime(m) ** 2)))

    def eigenvalues(self, m: int = 0, device: str | None = None) -> np.ndarray:
        """Closed-loop spectrum at the m-th fixed point (cached per m and device)."""
        key = ("eig", m, device)
        if key not in self._cache:
            self._cache[key] = eigenvalues(self.jacobian(m), device)
        return self._cache[key]

    def outliers(self, m: int = 0, *, margin: float | None = None, device: str | None = None) -> np.ndarray:
        """Closed-loop eigenvalues outside the bulk disk (see :func:`outlier_eigenvalues`)."""
        return outlier_eigenvalues(self.eigenvalues(m, device), self.bulk_radius(m), self.n_units, margin)

    def outlier(self, m: int = 0, *, margin: float | None = None, device: str | None = None) -> complex | None:
        """The rightmost eigenvalue outside the bulk, or None when every eigenvalue lies inside it."""
        out = self.outliers(m, margin=margin, device=device)
        return complex(out[0]) if out.size else None

    def is_stable(self, m: int = 0, device: str | None = None) -> bool:
        """All closed-loop eigenvalues at the m-th fixed point have Re λ < 0."""
        return bool(np.max(self.eigenvalues(m, device).real) < 0)

    def open_loop_gain(self, m: int, omega) -> np.ndarray:
        """Finite-N G_OL(ω) = w_outᵀ R' X(ω), (1 + iω − W R') X = w_FB (Eqs. 5–6).

        One eigendecomposition W R' = V Λ V⁻¹ (cached), then G(ω) = Σ_k c_k b_k / (1 + iω − λ_k).
        """
        key = ("gol", m)
        if key not in self._cache:
            rp = self._r_prime(m)
            lam, vec = np.linalg.eig(self.reservoir.W * rp[None, :])
            left = (rp * self.w_out) @ vec
            right = np.linalg.solve(vec, self.reservoir.w_fb.astype(complex))
            self._cache[key] = (lam, left * right)
        lam, coef = self._cache[key]
        omega = np.atleast_1d(np.asarray(omega, dtype=float))
        return (coef[None, :] / (1.0 + 1j * omega[:, None] - lam[None, :])).sum(axis=1)

    def simulate(
        self, x0: np.ndarray, t_max: float, dt: float = 0.05, *, u=None, record_every: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Integrate the closed loop (Eq. 1) with RK4 from ``x0``; returns (t, z(t)).

        ``u`` is an optional callable t → scalar input delivered through ``w_in``.
        """
        res, w_out = self.reservoir, self.w_out
        W_cl = res.W + np.outer(res.w_fb, w_out)

        def rhs(t: float, x: np.ndarray) -> np.ndarray:
            dx = -x + W_cl @ res.phi(x)
            if u is not None:
                dx = dx + res.w_in * u(t)
            return dx

        n_steps = round(t_max / dt)
        x = np.array(x0, dtype=float)
        ts, zs = [0.0], [float(w_out @ res.phi(x))]
        for k in range(n_steps):
            t = k * dt
            k1 = rhs(t, x)
            k2 = rhs(t + dt / 2, x + dt / 2 * k1)
            k3 = rhs(t + dt / 2, x + dt / 2 * k2)
            k4 = rhs(t + dt, x + dt * k3)
            x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            if (k + 1) % record_every == 0:
                ts.append((k + 1) * dt)
                zs.append(float(w_out @ res.phi(x)))
            if not np.all(np.isfinite(x)):
                break
        return np.asarray(ts), np.asarray(zs)


__all__ = [
    "DEFAULT_RELU_THRESHOLD",
    "FB_DISTRIBUTIONS",
    "PHI_NAMES",
    "FixedPointError",
    "Nonlinearity",
    "Reservoir",
    "TrainedReservoir",
    "eigenvalues",
    "make_nonlinearity",
    "outlier_eigenvalues",
    "sample_feedback",
]
