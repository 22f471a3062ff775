"""Input-space optimisation: one projected-gradient solver and what it solves.

``solver`` (the loop, constraints, step schedules, best-iterate tracking), ``activations`` (what a network computes
on a batch, read once per step), ``objectives`` (small composable objectives read from those activations),
``parameterizations`` and ``transforms`` (how variables become images; random jitter), ``problems`` (``solve``: a
problem posed on a frozen model), ``smooth`` (L-BFGS / Adam beside the solver, for style transfer); then the
problems themselves: ``attacks`` (PGD), ``representations`` (the paper's eqs. 4-8), ``synthesis``, ``style`` and
``layer_robustness``.
"""
