"""On-device solve: the host builds ``(P, c)`` once, the device applies it (jit-friendly)."""
from __future__ import annotations

import jax.numpy as jnp


def solve_wls_jax(P, c, v, v0, v1):
    """``phi[n, M, O] = P (v - v0) + c (v1 - v0)`` with jnp (usable inside ``jax.jit``).

    Args:
        P: ``[M, S]`` from :func:`xaicore.kernels.wls_operator`.
        c: ``[M]``.
        v: ``[n, S, O]`` coalition values.
        v0: ``[n, O]`` (or ``[O]``) value of the empty coalition.
        v1: ``[n, O]`` (or ``[O]``) value of the full coalition.

    Returns:
        ``phi [n, M, O]`` in the floating dtype of ``v`` (float32 unless x64 is enabled).
    """
    v = jnp.asarray(v)
    dt = v.dtype if jnp.issubdtype(v.dtype, jnp.floating) else jnp.float32
    v = v.astype(dt)
    P, c = jnp.asarray(P, dt), jnp.asarray(c, dt)
    v0 = jnp.broadcast_to(jnp.asarray(v0, dt), (v.shape[0], v.shape[2]))
    v1 = jnp.broadcast_to(jnp.asarray(v1, dt), (v.shape[0], v.shape[2]))
    phi = jnp.einsum("ms,nso->nmo", P, v - v0[:, None, :])
    return phi + c[None, :, None] * (v1 - v0)[:, None, :]
