"""captum on an identical PyTorch copy of the tabular MLP (weights copied from Keras).

captum takes one baseline per row, so the interventional game over ``k`` background rows
is run as ``k`` captum calls whose attributions are averaged (Shapley values and their
estimators are linear in the game: the same estimate at ``k`` times the evaluations,
which is what xaicore spends too)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._peers import _timed
from ._suites import Case

_ACT = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid", "softmax": "Softmax",
        "linear": None}


def torch_copy(model: Any) -> Any:
    """A ``torch.nn.Sequential`` with the Dense layers' weights and activations."""
    import torch

    layers = []
    for layer in model.layers:
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        lin = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(kernel.T.copy()))
            lin.bias.copy_(torch.from_numpy(bias.copy()))
        layers.append(lin)
        act = _ACT[layer.get_config()["activation"]]
        if act == "Softmax":
            layers.append(torch.nn.Softmax(dim=1))
        elif act:
            layers.append(getattr(torch.nn, act)())
    return torch.nn.Sequential(*layers).eval()


class _CountedModule:
    def __init__(self, net: Any) -> None:
        self.net, self.rows = net, 0

    def __call__(self, x: Any) -> Any:
        self.rows += int(x.shape[0])
        return self.net(x)


def captum_entries(case: Case, X: np.ndarray, budget: int, steps: int | None, seed: int,
                   repeats: int) -> tuple[dict, float]:
    """captum KernelShap / ShapleyValueSampling at ``budget`` and IntegratedGradients at
    ``steps``; returns the entries and the largest gap between the copy and Keras."""
    import jax
    import torch
    from captum.attr import IntegratedGradients, KernelShap, ShapleyValueSampling

    dev = jax.config.jax_default_device or jax.devices()[0]
    where = "cuda" if dev.platform == "gpu" and torch.cuda.is_available() else "cpu"
    net = torch_copy(case.keras_model).to(where)
    xt = torch.from_numpy(X).to(where)
    with torch.no_grad():
        gap = float(np.abs(net(xt).cpu().numpy() - np.asarray(case.fn(X))).max())
    m = case.n_players
    bgs = [torch.from_numpy(b[None].copy()).to(where) for b in case.background]
    perms = max(1, round((budget or m) / m))
    per_eval = 256

    def kernel(f: _CountedModule) -> np.ndarray:
        torch.manual_seed(seed)
        return np.mean([np.concatenate([
            KernelShap(f).attribute(xt[i:i + 1], baselines=b, target=case.target,
                                    n_samples=budget, perturbations_per_eval=per_eval)
            .cpu().numpy()
            for i in range(len(xt))]) for b in bgs], axis=0)

    def sampling(f: _CountedModule) -> np.ndarray:
        torch.manual_seed(seed)
        return np.mean([ShapleyValueSampling(f).attribute(xt, baselines=b, target=case.target,
                                                          n_samples=perms,
                                                          perturbations_per_eval=per_eval)
                        .cpu().numpy() for b in bgs], axis=0)

    def ig(f: _CountedModule) -> np.ndarray:
        return IntegratedGradients(f).attribute(xt, baselines=bgs[0], target=case.target,
                                                n_steps=steps, method="gausslegendre",
                                                internal_batch_size=4096).detach().cpu().numpy()

    out = {}
    todo = [("captum.KernelShap", kernel, "coalition"),
            ("captum.ShapleyValueSampling", sampling, "coalition")]
    if steps is not None:
        todo = [("captum.IntegratedGradients", ig, "gradient")]
    for name, run, _ in todo:
        def once(run: Any = run) -> tuple[np.ndarray, int]:
            f = _CountedModule(net)
            return run(f), f.rows
        out[name] = _timed(once, repeats)
    return out, gap
