"""Theory of trained reservoir networks (Rivkind & Barak, PRL 2017, "Local dynamics in trained
recurrent neural networks").

:mod:`.reservoir` — finite networks (Eq. 1) trained by breaking the loop (Eqs. 2–3, 16), their
closed-loop Jacobian (Eq. 4), spectrum, outliers and finite-N open-loop gain (Eqs. 5–6).
:mod:`.mft` — the mean-field theory: σ² (Eq. 8), β₀, β₁ (Eq. 11), G_OL and λ_out (Eqs. 13–15),
and the M-target generalisation with its all-poles and Nyquist stability tests (Eqs. 16–18).
:mod:`.command` — ``neurodyn theory mft``.
"""
