"""RNN cells written with plain tensor operations, so that ``torch.func.jvp`` / ``jacrev`` apply.

JSLDS co-training (Smith, Linderman & Sussillo 2021, NeurIPS) linearises the RNN update
h_t = F(h_{t−1}, u_t) around expansion points with one Jacobian-vector product per step. Fused
kernels (``torch.nn.GRUCell``, the ``_VF`` RNN ops) are not guaranteed to support forward-mode AD,
so the cells here are spelled out with ``nn.Linear``, ``sigmoid`` and ``tanh``.

Every cell maps h (batch, n), u (batch, m) → h' (batch, n), row by row (trial i's new state
depends on trial i's state and input only), which is what makes a batched JVP with batched
tangents a per-trial J·v.

Closed-form Jacobian-vector products. Besides ``forward``, each cell here gives J·v in closed
form, so that co-training does not pay for forward-mode AD (on tensors of (64, 32) one
``torch.func.jvp`` of the GRU costs ~0.8 ms, its forward pass ~0.07 ms: dispatch, not arithmetic):

* ``input_drive(u)``: the input side x of the update, affine in u, so that it can be computed for
  all time steps at once; ``input_drive_tangent(du)``: its linear part ẋ (no bias);
* ``drive_step(h, x, dh=None, dx=None)`` → (F, J_h dh + J_u du): the update from the drive and,
  given tangents, its JVP from the same gate tensors, in plain differentiable tensor operations
  (any order, forward mode, ``vmap``); ``value_and_jvp(h, u, dh, du)`` composes the two and equals
  ``torch.func.jvp(cell, (h, u), (dh, du))`` to rounding;
* ``cotrain_rollout(h0, a0, drives, dx, expansion)``: a whole co-training rollout, T steps of
  e_t = E(a_{t−1}) (the residual tanh expansion network), the RNN update h_t = F(h_{t−1}, u_t) and
  the JSLDS update a_t = e_t + J_h(e_t, u*)(a_{t−1} − e_t) + J_u(e_t, u*)(u_t − u*), as ONE
  autograd node whose reverse pass is written out too (it needs the second derivatives of σ and
  tanh), every weight gradient formed once as a product over all (time, trial) rows. Recorded op
  by op, the closed form's ~30 autograd nodes per step still made a co-trained optimiser step
  ~3× a plain one at (64, 32); as one node, ~2×. Values and first derivatives equal the AD
  path's to rounding (a second derivative through the node raises).
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from neurodyn.errors import ConfigError

# g ⊙ σ(p)(1 − σ(p)) and g ⊙ (1 − tanh(p)²) from the forward outputs σ(p), tanh(p): one op each,
# differentiable (reverse mode goes through them)
_sigmoid_backward = torch.ops.aten.sigmoid_backward.default
_tanh_backward = torch.ops.aten.tanh_backward.default


def _sigmoid_backward_into(grad: torch.Tensor, output: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """:data:`_sigmoid_backward` written into ``out``."""
    return torch.ops.aten.sigmoid_backward.grad_input(grad, output, grad_input=out)


def _tanh_backward_into(grad: torch.Tensor, output: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """:data:`_tanh_backward` written into ``out``."""
    return torch.ops.aten.tanh_backward.grad_input(grad, output, grad_input=out)


def _need_tangent(dh: torch.Tensor | None, dx: torch.Tensor | None) -> bool:
    if dh is None:
        return False
    if dx is None:
        raise ConfigError("dx", "the input drive's tangent is needed with dh")
    return True


def _input_product(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """u Wᵀ (+ b): u (..., m), weight (k, m) → (..., k), as one product of the flattened rows with Wᵀ
    made contiguous. With the transposed view (what ``nn.functional.linear`` passes) the weight's
    gradient is formed as (k, rows) × (rows, m), which MKL runs several times slower than the
    (m, rows) × (rows, k) it forms here when rows ≫ m (all T steps at once, rows = T·2B: at
    rows = 3200, m = 6, k = 96, 0.45 ms against 0.08 ms on one thread)."""
    flat = u.reshape(-1, u.shape[-1])
    w_t = weight.T.contiguous()
    out = torch.mm(flat, w_t) if bias is None else torch.addmm(bias, flat, w_t)
    return out.view(*u.shape[:-1], weight.shape[0])


def _check_sizes(n_inputs: int, n_hidden: int) -> None:
    if n_inputs < 1:
        raise ConfigError("n_inputs", f"must be >= 1, got {n_inputs}")
    if n_hidden < 1:
        raise ConfigError("hidden", f"must be >= 1, got {n_hidden}")


class _ClosedFormJVP:
    """``value_and_jvp`` for a cell that defines ``input_drive``, ``input_drive_tangent`` and
    ``drive_step``."""

    def value_and_jvp(
        self, h: torch.Tensor, u: torch.Tensor, dh: torch.Tensor, du: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(F(h, u), J_h(h, u) dh + J_u(h, u) du) in closed form (:meth:`drive_step`): h, dh (batch, n),
        u, du (batch, m) → both (batch, n); ``torch.func.jvp(self, (h, u), (dh, du))`` to rounding."""
        new, jv = self.drive_step(h, self.input_drive(u), dh, self.input_drive_tangent(du))
        return new, jv


class GRUCell(_ClosedFormJVP, nn.Module):
    """Gated recurrent unit h' = F(h, u) in PyTorch's convention (Cho et al. 2014 with the reset
    gate applied after the recurrent matrix):

        r  = σ(W_ir u + b_ir + W_hr h + b_hr)              reset gate
        z  = σ(W_iz u + b_iz + W_hz h + b_hz)              update gate
        c  = tanh(W_ic u + b_ic + r ⊙ (W_hc h + b_hc))     candidate
        h' = z ⊙ h + (1 − z) ⊙ c                           (then clamped to ±clip when clip is set)

    ``input_map`` (m → 3n) and ``hidden_map`` (n → 3n) stack the (r, z, c) blocks in this order, the
    layout of ``torch.nn.GRUCell``'s ``weight_ih`` / ``weight_hh``, so weights copy over one to one
    (:meth:`from_torch`). Initialisation is PyTorch's: every entry ~ U(−1/√n, 1/√n).

    ``clip`` (for a generator that must not blow up, e.g. LFADS) clamps the new state elementwise;
    where the clamp is active the Jacobian of that coordinate is zero.
    """

    def __init__(self, n_inputs: int, n_hidden: int, *, clip: float | None = None):
        super().__init__()
        _check_sizes(n_inputs, n_hidden)
        if clip is not None and not (math.isfinite(clip) and clip > 0):
            raise ConfigError("clip", f"must be a finite number > 0 or None, got {clip!r}")
        self.n_inputs, self.n_hidden, self.clip = n_inputs, n_hidden, clip
        self.input_map = nn.Linear(n_inputs, 3 * n_hidden)
        self.hidden_map = nn.Linear(n_hidden, 3 * n_hidden)
        bound = 1.0 / math.sqrt(n_hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """h (batch, n), u (batch, m) → h' (batch, n)."""
        xr, xz, xc = self.input_map(u).chunk(3, dim=-1)
        hr, hz, hc = self.hidden_map(h).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        c = torch.tanh(xc + r * hc)
        new = z * h + (1.0 - z) * c
        if self.clip is not None:
            new = torch.clamp(new, -self.clip, self.clip)
        return new

    def input_drive(self, u: torch.Tensor) -> torch.Tensor:
        """x = W_i u + b_i + (b_hr, b_hz, 0), u (..., m) → (..., 3n): the (r, z, c) blocks of the input
        side, with the hidden biases that add to it (not b_hc, which the reset gate multiplies)."""
        n = self.n_hidden
        hidden_bias = torch.cat([self.hidden_map.bias[: 2 * n], self.hidden_map.bias.new_zeros(n)])
        return _input_product(u, self.input_map.weight, self.input_map.bias + hidden_bias)

    def input_drive_tangent(self, du: torch.Tensor) -> torch.Tensor:
        """ẋ = W_i du, du (..., m) → (..., 3n): the tangent of :meth:`input_drive` (no bias)."""
        return _input_product(du, self.input_map.weight)

    def drive_step(
        self, h: torch.Tensor, x: torch.Tensor, dh: torch.Tensor | None = None, dx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """F(h, u) and its Jacobian-vector product J_h dh + J_u du in closed form, given the input
        drive x = :meth:`input_drive` (u) and its tangent dx = :meth:`input_drive_tangent` (du).

        h, dh (..., n); x, dx (..., 3n). Returns (h', ḣ'), both (..., n); ḣ' is None when dh is None
        (the update alone). Differentiating the class equations, with q = W_hc h + b_hc and the hidden
        map's tangent ḣh = W_h dh:

            ṙ  = r(1 − r) ⊙ (ẋ_r + ḣh_r)
            ż  = z(1 − z) ⊙ (ẋ_z + ḣh_z)
            ċ  = (1 − c²) ⊙ (ẋ_c + ṙ ⊙ q + r ⊙ ḣh_c)
            ḣ' = ż ⊙ (h − c) + z ⊙ dh + (1 − z) ⊙ ċ

        With ``clip``, ḣ' is zeroed where the clamp is active (h' outside [−clip, clip] before
        clamping; ``torch.clamp``'s derivative is 1 on the closed interval).
        """
        n, weight = self.n_hidden, self.hidden_map.weight
        x_rz, x_c = x.split((2 * n, n), dim=-1)
        hh_rz = nn.functional.linear(h, weight[: 2 * n])  # b_hr, b_hz are in x
        q = nn.functional.linear(h, weight[2 * n :], self.hidden_map.bias[2 * n :])
        g = torch.sigmoid(x_rz + hh_rz)
        r, z = g.split((n, n), dim=-1)
        c = torch.tanh(torch.addcmul(x_c, r, q))
        new = torch.lerp(c, h, z)  # z ⊙ h + (1 − z) ⊙ c
        jv = None
        if _need_tangent(dh, dx):
            dx_rz, dx_c = dx.split((2 * n, n), dim=-1)
            dhh_rz, dq = nn.functional.linear(dh, self.hidden_map.weight).split((2 * n, n), dim=-1)
            dr, dz = _sigmoid_backward(dx_rz + dhh_rz, g).split((n, n), dim=-1)
            dc = _tanh_backward(torch.addcmul(torch.addcmul(dx_c, dr, q), r, dq), c)
            jv = torch.addcmul(torch.lerp(dc, dh, z), dz, h - c)
        if self.clip is not None:
            if jv is not None:
                jv = torch.where((new >= -self.clip) & (new <= self.clip), jv, 0.0)
            new = torch.clamp(new, -self.clip, self.clip)
        return new, jv

    def cotrain_rollout(
        self,
        h0: torch.Tensor,
        a0: torch.Tensor,
        drives: torch.Tensor,
        dx: torch.Tensor,
        expansion: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, ...] | None:
        """A co-training rollout as one autograd node (see the module doc); None with ``clip`` set.

        h0, a0 (B, n); drives = input_drive of the rows [u_t; u*_t], (T, 2B, 3n); dx =
        input_drive_tangent(u_t − u*_t), (T, B, 3n); expansion = (W₁ (k, n), b₁ (k,), W₂ (n, k), b₂ (n,))
        of E(a) = a + W₂ tanh(W₁ a + b₁) + b₂. Returns h, a, e, F(e, u*), each (B, T, n)."""
        if self.clip is not None:
            return None
        n = self.n_hidden
        return _CotrainRollout.apply(
            _GRUKernel, h0, a0, drives, dx, *expansion, self.hidden_map.weight, self.hidden_map.bias[2 * n :]
        )

    @classmethod
    def from_torch(cls, cell: nn.GRUCell, *, clip: float | None = None) -> GRUCell:
        """The same map as a ``torch.nn.GRUCell`` (weights copied), usable with ``torch.func``."""
        out = cls(cell.input_size, cell.hidden_size, clip=clip)
        with torch.no_grad():
            out.input_map.weight.copy_(cell.weight_ih)
            out.hidden_map.weight.copy_(cell.weight_hh)
            out.input_map.bias.copy_(cell.bias_ih if cell.bias_ih is not None else torch.zeros(3 * cell.hidden_size))
            out.hidden_map.bias.copy_(cell.bias_hh if cell.bias_hh is not None else torch.zeros(3 * cell.hidden_size))
        return out.to(cell.weight_ih.dtype)


class TanhRNNCell(_ClosedFormJVP, nn.Module):
    """Vanilla RNN h' = tanh(W h + B u + b) (the "vanilla" RNN of the paper's context task).

    Initialisation: W ~ N(0, g²/n) with gain g = ``gain`` (1: the edge of chaos for large n),
    B ~ N(0, 1/m), b = 0.
    """

    def __init__(self, n_inputs: int, n_hidden: int, *, gain: float = 1.0):
        super().__init__()
        _check_sizes(n_inputs, n_hidden)
        self.n_inputs, self.n_hidden = n_inputs, n_hidden
        self.recurrent = nn.Linear(n_hidden, n_hidden, bias=True)
        self.input_map = nn.Linear(n_inputs, n_hidden, bias=False)
        with torch.no_grad():
            self.recurrent.weight.normal_(0.0, gain / math.sqrt(n_hidden))
            self.recurrent.bias.zero_()
            self.input_map.weight.normal_(0.0, 1.0 / math.sqrt(n_inputs))

    def forward(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """h (batch, n), u (batch, m) → h' (batch, n)."""
        return torch.tanh(self.recurrent(h) + self.input_map(u))

    def input_drive(self, u: torch.Tensor) -> torch.Tensor:
        """x = B u + b, u (..., m) → (..., n): the input side, with the bias."""
        return _input_product(u, self.input_map.weight, self.recurrent.bias)

    def input_drive_tangent(self, du: torch.Tensor) -> torch.Tensor:
        """ẋ = B du, du (..., m) → (..., n): the tangent of :meth:`input_drive` (no bias)."""
        return _input_product(du, self.input_map.weight)

    def drive_step(
        self, h: torch.Tensor, x: torch.Tensor, dh: torch.Tensor | None = None, dx: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """F(h, u) = tanh(W h + x) and its Jacobian-vector product ḣ' = (1 − h'²) ⊙ (W dh + ẋ), given
        x = :meth:`input_drive` (u) and ẋ = dx = :meth:`input_drive_tangent` (du).
        h, dh (..., n); x, dx (..., n). Returns (h', ḣ'); ḣ' is None when dh is None."""
        w = self.recurrent.weight
        new = torch.tanh(x + h @ w.T)
        jv = _tanh_backward(dx + dh @ w.T, new) if _need_tangent(dh, dx) else None
        return new, jv

    def cotrain_rollout(
        self,
        h0: torch.Tensor,
        a0: torch.Tensor,
        drives: torch.Tensor,
        dx: torch.Tensor,
        expansion: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, ...]:
        """A co-training rollout as one autograd node, as :meth:`GRUCell.cotrain_rollout` (drives
        (T, 2B, n), dx (T, B, n))."""
        return _CotrainRollout.apply(_TanhKernel, h0, a0, drives, dx, *expansion, self.recurrent.weight)


class _ScratchPool:
    """Scratch tensors kept between rollouts, by (shape, dtype, device).

    The fused rollout needs buffers for all T steps (a few MB at (64, 32), tens of MB at the
    paper's sizes). Freed, such blocks go back to the operating system, and touching fresh pages costs more
    than the arithmetic: at (64, 32) about 1,400 page faults, ~4 ms, per training step. A rollout
    takes its buffers here and gives them back when its autograd node is freed (after the last
    backward pass through it, or at once without one); a backward pass gives back its own buffers
    at its end. No tensor that leaves the node is ever a scratch tensor. At most ``max_bytes`` are
    kept."""

    def __init__(self, max_bytes: int = 1 << 29):
        self.max_bytes, self.kept, self._free = max_bytes, 0, {}

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        stack = self._free.get((tuple(shape), like.dtype, like.device)) if like.device.type == "cpu" else None
        if stack:
            tensor = stack.pop()
            self.kept -= tensor.nbytes
            return tensor
        return like.new_empty(shape)

    def give(self, tensors) -> None:
        for tensor in tensors:
            # CPU only (other devices' allocators cache already); an inference-mode tensor could not be
            # written outside inference mode
            if (
                tensor.device.type == "cpu"
                and not tensor.is_inference()
                and self.kept + tensor.nbytes <= self.max_bytes
            ):
                self._free.setdefault((tuple(tensor.shape), tensor.dtype, tensor.device), []).append(tensor)
                self.kept += tensor.nbytes

    def clear(self) -> None:
        self._free.clear()
        self.kept = 0


_SCRATCH = _ScratchPool()


class _GRUKernel:
    """The GRU's part of one co-training time step, forward and reverse, on plain tensors (no autograd).

    Forward (:meth:`step`): the RNN rows (h, x) and the expansion-point rows (e, x*) are stacked into
    (2B, n) and go through the GRU together (one product for the gates g = [r, z], one for the
    candidate's q = W_c h + b_c); the tangent is taken on the e rows with dh = a_prev − e, and the
    JSLDS update a = e + ḣ' is written as

        a = lerp(e + ċ, a_prev, z) + ż ⊙ (e − c)          (r, z, c, ṙ, ż, ċ at e: GRUCell.drive_step)

    Reverse (:meth:`step_backward`), with incoming gradients n̄ of the stacked outputs [h'; F(e, u*)]
    and v̄ of a (products elementwise; p = W_rz h + x_rz the gates' pre-activations, the drive x_rz
    holding b_hr, b_hz; ṗ its tangent; dq = W_c dh; s = ẋ_c + ṙ q + r dq the candidate
    pre-activation's tangent; the terms with v̄ on the e rows only):

        ċ̄ = (1 − z) v̄       s̄ = (1 − c²) ċ̄       ġ̄ = [q s̄, (e − c) v̄]       ṗ̄ = g(1 − g) ġ̄
        c̄ = (1 − z) n̄ − 2 c s ċ̄ − ż v̄              c̄ₚ = (1 − c²) c̄   (c's pre-activation)
        ḡ = [q c̄ₚ + dq s̄, ([h; e] − c) n̄ + (dh − ċ) v̄] + (1 − 2g) ṗ ġ̄          p̄ = g(1 − g) ḡ
        q̄ = r c̄ₚ + ṙ s̄       dq̄ = r s̄

    then through the products: [h̄; ē] = z n̄ + p̄ W_rz + q̄ W_c, dh̄ = ṗ̄ W_rz + dq̄ W_c,
    ā_prev = z v̄ + dh̄, ē += ċ̄ + ż v̄ − dh̄; the drives' gradients are [p̄, c̄ₚ] and [ṗ̄, s̄]. The weight
    gradients Σ_t (p̄ᵀ [h; e] + ṗ̄ᵀ dh), Σ_t (q̄ᵀ [h; e] + dq̄ᵀ dh) and the bias's are formed once for
    all steps in :meth:`finish`.
    """

    def __init__(self, weights, drives, dx):
        weight, bias = weights  # W_h (3n, n) and b_hc (n,)
        n_time, rows, k = drives.shape
        n, batch = k // 3, rows // 2
        self.n, self.batch, self.n_time = n, batch, n_time
        self.w_rz, self.w_c, self.b_c = weight[: 2 * n], weight[2 * n :], bias
        self.w_rz_t, self.w_c_t = self.w_rz.T, self.w_c.T
        self.scratch: list[torch.Tensor] = []
        take = self.take
        # per-step views of the drives (b_hr, b_hz are in them: GRUCell.input_drive)
        self.x_rz, self.x_c = drives[..., : 2 * n].unbind(0), drives[..., 2 * n :].unbind(0)
        self.dx_rz, self.dx_c = dx[..., : 2 * n].unbind(0), dx[..., 2 * n :].unbind(0)
        self.states, self.new = take((n_time, rows, n), drives), take((n_time, rows, n), drives)
        self.dh, self.a = take((n_time, batch, n), drives), take((n_time, batch, n), drives)
        self.states_t, self.new_t = self.states.unbind(0), self.new.unbind(0)
        self.dh_t, self.a_t = self.dh.unbind(0), self.a.unbind(0)
        self.saved: list[tuple[torch.Tensor, ...]] = []

    def take(self, shape, like):
        """A scratch tensor, given back with :attr:`scratch`."""
        tensor = _SCRATCH.take(shape, like)
        self.scratch.append(tensor)
        return tensor

    def step(self, t, h, e, a_prev):
        batch = self.batch
        states = torch.cat((h, e), out=self.states_t[t])
        g = torch.sigmoid(torch.addmm(self.x_rz[t], states, self.w_rz_t))
        q = torch.addmm(self.b_c, states, self.w_c_t)
        r, z = g.chunk(2, 1)
        c = torch.tanh(torch.addcmul(self.x_c[t], r, q))
        new = torch.lerp(c, states, z, out=self.new_t[t])
        g_e, q_e, c_e = g[batch:], q[batch:], c[batch:]
        r_e, z_e = g_e.chunk(2, 1)
        dh = torch.sub(a_prev, e, out=self.dh_t[t])
        dp = torch.addmm(self.dx_rz[t], dh, self.w_rz_t)
        dg = _sigmoid_backward(dp, g_e)
        dr, dz = dg.chunk(2, 1)
        dq = torch.mm(dh, self.w_c_t)
        s = torch.addcmul(torch.addcmul(self.dx_c[t], dr, q_e), r_e, dq)
        dc = _tanh_backward(s, c_e)
        ec = e - c_e
        a = torch.addcmul(torch.lerp(e + dc, a_prev, z_e), dz, ec, out=self.a_t[t])
        self.saved.append((g, q, c, r, z, g_e, q_e, c_e, r_e, z_e, dp, dg, dr, dz, dq, s, dc, ec))
        return new[:batch], a

    def outputs(self):
        return self.new[:, : self.batch], self.a, self.new[:, self.batch :]

    def start_backward(self):
        n_time, rows, batch, n = self.n_time, 2 * self.batch, self.batch, self.n
        # the drives' gradients leave the node: fresh; their blocks are p̄, c̄ₚ and ṗ̄, s̄
        self.drives_bar = self.new.new_empty(n_time, rows, 3 * n)
        self.dx_bar = self.new.new_empty(n_time, batch, 3 * n)
        self.p_bar, self.cp_bar = self.drives_bar[..., : 2 * n], self.drives_bar[..., 2 * n :]
        self.dp_bar, self.s_bar = self.dx_bar[..., : 2 * n], self.dx_bar[..., 2 * n :]
        self.q_bar, self.dq_bar = self.take((n_time, rows, n), self.new), self.take((n_time, batch, n), self.new)
        self.bars_t = [x.unbind(0) for x in (self.p_bar, self.q_bar, self.cp_bar, self.dp_bar, self.dq_bar, self.s_bar)]

    def step_backward(self, t, h_bar, v, f_bar):
        batch = self.batch
        g, q, c, r, z, g_e, q_e, c_e, r_e, z_e, dp, dg, dr, dz, dq, s, dc, ec = self.saved[t]
        p_bar_t, q_bar_t, cp_bar_t, dp_bar_t, dq_bar_t, s_bar_t = (x[t] for x in self.bars_t)
        states, dh = self.states_t[t], self.dh_t[t]
        new_bar = torch.cat((h_bar, f_bar))
        # the tangent rows: a = (1 − z)(e + ċ) + z a_prev + ż (e − c)
        dc_bar = torch.addcmul(v, z_e, v, value=-1.0)
        s_bar = _tanh_backward_into(dc_bar, c_e, s_bar_t)
        dg_bar = torch.cat((q_e * s_bar, ec * v), 1)
        dp_bar = _sigmoid_backward_into(dg_bar, g_e, dp_bar_t)
        dq_bar = torch.mul(r_e, s_bar, out=dq_bar_t)
        # the stacked rows: [h'; F(e)] = lerp(c, [h; e], z), c = tanh(x_c + r q), g = σ(p)
        c_bar = torch.addcmul(new_bar, z, new_bar, value=-1.0)
        c_bar[batch:].addcmul_(c_e * s, dc_bar, value=-2.0).addcmul_(dz, v, value=-1.0)
        cp_bar = _tanh_backward_into(c_bar, c, cp_bar_t)
        g_bar = torch.cat((q * cp_bar, (states - c).mul_(new_bar)), 1)
        g_bar_e = g_bar[batch:]
        r_bar_e, z_bar_e = g_bar_e.chunk(2, 1)
        r_bar_e.addcmul_(dq, s_bar)
        z_bar_e.addcmul_(dh - dc, v)
        t_e = dp * dg_bar
        g_bar_e.add_(t_e).addcmul_(g_e, t_e, value=-2.0)
        p_bar = _sigmoid_backward_into(g_bar, g, p_bar_t)
        q_bar = torch.mul(r, cp_bar, out=q_bar_t)
        q_bar[batch:].addcmul_(dr, s_bar)
        states_bar = torch.addmm(torch.addmm(z * new_bar, p_bar, self.w_rz), q_bar, self.w_c)
        dh_bar = torch.addmm(torch.mm(dp_bar, self.w_rz), dq_bar, self.w_c)
        h_prev_bar, e_bar = states_bar.chunk(2)
        e_bar.add_(dc_bar).addcmul_(dz, v).sub_(dh_bar)
        return h_prev_bar, e_bar, dh_bar.addcmul_(z_e, v)

    def finish(self):
        n = self.n
        states, dh = self.states.view(-1, n), self.dh.view(-1, n)
        p_bar, dp_bar = self.p_bar.reshape(-1, 2 * n), self.dp_bar.reshape(-1, 2 * n)  # views (row stride 3n)
        q_bar = self.q_bar.view(-1, n)
        w_rz_bar = torch.addmm(p_bar.T @ states, dp_bar.T, dh)
        w_c_bar = torch.addmm(q_bar.T @ states, self.dq_bar.view(-1, n).T, dh)
        return (self.drives_bar, self.dx_bar), (torch.cat((w_rz_bar, w_c_bar)), q_bar.sum(0))


class _TanhKernel:
    """The tanh RNN's part of one co-training time step (as :class:`_GRUKernel`): [h'; f] =
    tanh([h; e] Wᵀ + [x; x*]) in one product, ṗ = W (a_prev − e) + ẋ, a = e + (1 − f²) ṗ.
    Reverse, with n̄ the gradient of [h'; f] and v̄ of a: ṗ̄ = (1 − f²) v̄; n̄_f gains −2 f ṗ v̄;
    p̄ = (1 − [h'; f]²) n̄; [h̄; ē] = p̄ W, dh̄ = ṗ̄ W, ā_prev = dh̄, ē += v̄ − dh̄; p̄ and ṗ̄ are the
    drives' gradients and W̄ = Σ_t (p̄ᵀ [h; e] + ṗ̄ᵀ dh) is formed once in :meth:`finish`."""

    def __init__(self, weights, drives, dx):
        (self.weight,) = weights
        self.weight_t = self.weight.T
        n_time, rows, n = drives.shape
        self.n, self.batch = n, rows // 2
        self.x, self.dx = drives.unbind(0), dx.unbind(0)
        self.scratch: list[torch.Tensor] = []
        big, small = (n_time, rows, n), (n_time, self.batch, n)
        self.states, self.new = self.take(big, drives), self.take(big, drives)
        self.dh, self.a, self.dp = self.take(small, drives), self.take(small, drives), self.take(small, drives)
        self.states_t, self.dh_t, self.new_t, self.a_t, self.dp_t = (
            x.unbind(0) for x in (self.states, self.dh, self.new, self.a, self.dp)
        )

    def step(self, t, h, e, a_prev):
        states = torch.cat((h, e), out=self.states_t[t])
        new = torch.tanh(torch.addmm(self.x[t], states, self.weight_t), out=self.new_t[t])
        h_next, f_e = new.chunk(2)
        dh = torch.sub(a_prev, e, out=self.dh_t[t])
        dp = torch.addmm(self.dx[t], dh, self.weight_t, out=self.dp_t[t])
        return h_next, torch.add(e, _tanh_backward(dp, f_e), out=self.a_t[t])

    def outputs(self):
        return self.new[:, : self.batch], self.a, self.new[:, self.batch :]

    take = _GRUKernel.take

    def start_backward(self):
        # these two leave the node (the drives' gradients): fresh, not scratch
        self.p_bar, self.dp_bar = torch.empty_like(self.new), torch.empty_like(self.a)
        self.bars_t = self.p_bar.unbind(0), self.dp_bar.unbind(0)

    def step_backward(self, t, h_bar, v, f_bar):
        weight, new, dp = self.weight, self.new_t[t], self.dp_t[t]
        f_e = new[self.batch :]
        dp_bar = _tanh_backward_into(v, f_e, self.bars_t[1][t])
        new_bar = torch.cat((h_bar, torch.addcmul(f_bar, f_e * dp, v, value=-2.0)))
        p_bar = _tanh_backward_into(new_bar, new, self.bars_t[0][t])
        h_prev_bar, e_bar = (p_bar @ weight).chunk(2)
        dh_bar = dp_bar @ weight
        return h_prev_bar, e_bar.add_(v).sub_(dh_bar), dh_bar

    def finish(self):
        n = self.n
        p_bar, dp_bar = self.p_bar.view(-1, n), self.dp_bar.view(-1, n)
        weight_bar = torch.addmm(p_bar.T @ self.states.view(-1, n), dp_bar.T, self.dh.view(-1, n))
        return (self.p_bar, self.dp_bar), (weight_bar,)


class _CotrainRollout(torch.autograd.Function):
    """A whole co-training rollout (:func:`neurodyn.models.lfads_jslds.jslds.rollout`) as one autograd
    node: per step e_t = E(a_{t−1}) = a_{t−1} + W₂ tanh(W₁ a_{t−1} + b₁) + b₂ (the expansion network),
    then the cell kernel's RNN and JSLDS updates; the reverse pass runs the steps backwards with the
    kernel's closed-form gradients (for E: ū = W₂ᵀ ē, p̄₁ = (1 − u²) ū, ā_{t−1} += ē + W₁ᵀ p̄₁) and
    forms every weight gradient once, as one product over all (time, trial) rows. Inputs: the kernel
    class, h0, a0 (B, n), the drives (T, 2B, k) of the rows [u_t; u*_t] and their tangent dx (T, B, k),
    W₁, b₁, W₂, b₂ and the cell's weights; outputs h, a, e, F(e, u*), each (B, T, n)."""

    @staticmethod
    def forward(ctx, kernel_cls, h0, a0, drives, dx, w1, b1, w2, b2, *weights):
        n_time, batch, _ = dx.shape
        kernel = kernel_cls(weights, drives, dx)
        u1 = kernel.take((n_time, batch, w1.shape[0]), dx)
        e_all = kernel.take((n_time, batch, h0.shape[-1]), dx)
        h, a, w1_t, w2_t, step = h0, a0, w1.T, w2.T, kernel.step
        for t, (u1_t, e_t) in enumerate(zip(u1.unbind(0), e_all.unbind(0))):
            torch.tanh(torch.addmm(b1, a, w1_t), out=u1_t)
            h, a = step(t, h, torch.addmm(b2, u1_t, w2_t, out=e_t).add_(a), a)
        ctx.kernel, ctx.u1, ctx.e_all = kernel, u1, e_all
        ctx.save_for_backward(a0, w1, w2)
        # the forward buffers go back to the pool when this node is freed (after the last backward pass)
        weakref.finalize(ctx, _SCRATCH.give, kernel.scratch)
        h_all, a_all, f_all = kernel.outputs()
        # fresh (batch, T, n) copies: the buffers are scratch
        return tuple(
            x.new_empty(batch, n_time, x.shape[-1]).copy_(x.transpose(0, 1)) for x in (h_all, a_all, e_all, f_all)
        )

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads):
        a0, w1, w2 = ctx.saved_tensors
        kernel, u1 = ctx.kernel, ctx.u1
        kernel.scratch = []  # the backward pass's own buffers, given back at its end
        n_time, batch, n = ctx.e_all.shape
        zeros = a0.new_zeros(batch, n)
        # per-step incoming gradients of h, a, e, F(e) (None where the output was not used)
        h_grad, a_grad, e_grad, f_grad = ([None] * n_time if g is None else g.unbind(1) for g in grads)
        kernel.start_backward()
        e_bars, p1_bars = kernel.take(ctx.e_all.shape, u1), kernel.take(u1.shape, u1)
        u1_t, e_bars_t, p1_bars_t = u1.unbind(0), e_bars.unbind(0), p1_bars.unbind(0)
        h_bar, a_bar, step_backward = zeros, zeros, kernel.step_backward
        for t in reversed(range(n_time)):
            h_bar = h_bar if h_grad[t] is None else h_bar + h_grad[t]
            a_bar = a_bar if a_grad[t] is None else a_bar + a_grad[t]
            h_bar, e_bar, a_bar = step_backward(t, h_bar, a_bar, zeros if f_grad[t] is None else f_grad[t])
            e_bar = e_bars_t[t].copy_(e_bar) if e_grad[t] is None else torch.add(e_bar, e_grad[t], out=e_bars_t[t])
            p1_bar = _tanh_backward_into(e_bar @ w2, u1_t[t], p1_bars_t[t])
            a_bar = torch.addmm(a_bar.add_(e_bar), p1_bar, w1)
        a_prev = kernel.take((n_time, batch, n), a0)  # the expansion network's inputs
        a_prev[0].copy_(a0)
        a_prev[1:].copy_(kernel.a[:-1])
        e_rows, p1_rows = e_bars.view(-1, n), p1_bars.view(-1, p1_bars.shape[-1])
        w1_bar = p1_rows.T @ a_prev.reshape(-1, n)
        w2_bar = e_rows.T @ u1.view(-1, u1.shape[-1])
        drive_bars, weight_bars = kernel.finish()
        _SCRATCH.give(kernel.scratch)
        return (None, h_bar, a_bar, *drive_bars, w1_bar, p1_rows.sum(0), w2_bar, e_rows.sum(0), *weight_bars)


class Readout(nn.Linear):
    """Linear readout y = C h + d, (..., n) → (..., k); the same module reads the RNN state h_t and
    the JSLDS state a_t (Smith, Linderman & Sussillo 2021: the same readout enters L_RNN and L_JSLDS)."""

    def __init__(self, n_hidden: int, n_outputs: int):
        super().__init__(n_hidden, n_outputs)


CELLS = {"gru": GRUCell, "tanh": TanhRNNCell}


def make_cell(kind: str, n_inputs: int, n_hidden: int) -> nn.Module:
    """A cell by name: ``gru`` (:class:`GRUCell`) or ``tanh`` (:class:`TanhRNNCell`)."""
    if kind not in CELLS:
        raise ConfigError("cell", f"must be one of {sorted(CELLS)}, got {kind!r}")
    return CELLS[kind](n_inputs, n_hidden)


__all__ = ["CELLS", "GRUCell", "Readout", "TanhRNNCell", "make_cell"]
