"""Speed of IntegratedGradients as a share of the raw forward+backward throughput.

For an MLP on 64 features and a CNN on 32x32x3 images: instances/s, model rows/s
(instances x steps), the fraction of the best rows/s of the jitted input gradient of the
summed outputs on the same ModelFn (the limit), and, when torch and captum are importable,
captum's IntegratedGradients on an identical PyTorch copy of the model (weights copied,
outputs checked) with the same rule, steps, targets and baseline. A second table shows
device memory flat as instances and steps grow: the compiled step's temporary buffer size
(XLA's memory analysis) depends only on the chunk shape, bounded by ``max_batch``.

    python benchmarks/bench_gradients.py [--quick] [--n-steps 32]
"""
from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from common import cnn, environment, mlp, raw_grad_rate, table

import xaicore
from xaicore.engine._gradients import make_step, plan
from xaicore.methods._integrated_gradients import IntegratedGradients, path_sampler


def xaicore_ig(fn, X, n_steps: int, max_batch: int | None):
    """A timed run of IntegratedGradients (compiled on a first call): ``run() -> att``."""
    ig = IntegratedGradients(fn, n_steps=n_steps, max_batch=max_batch, progress=False)
    t = np.zeros(len(X), int)
    ig.explain(X, target=t)  # compile
    return lambda: ig.explain(X, target=t)


def timed(f) -> tuple[float, object]:
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def torch_copy(model):
    """An identical PyTorch model (channels-last flatten order kept), or None."""
    import torch

    class Permute(torch.nn.Module):
        def __init__(self, dims: tuple) -> None:
            super().__init__()
            self.dims = dims

        def forward(self, x):
            return x.permute(*self.dims)

    layers = []
    for layer in model.layers:
        kind = type(layer).__name__
        w = [np.asarray(v) for v in layer.get_weights()]
        if kind == "Dense":
            lin = torch.nn.Linear(*w[0].shape)
            lin.weight.data, lin.bias.data = torch.tensor(w[0].T), torch.tensor(w[1])
            layers.append(lin)
        elif kind == "Conv2D":
            kh, kw, cin, cout = w[0].shape
            conv = torch.nn.Conv2d(cin, cout, (kh, kw), padding="same")
            conv.weight.data = torch.tensor(w[0].transpose(3, 2, 0, 1).copy())
            conv.bias.data = torch.tensor(w[1])
            layers.append(conv)
        elif kind == "MaxPooling2D":
            layers.append(torch.nn.MaxPool2d(2))
        elif kind == "Flatten":
            layers += [Permute((0, 2, 3, 1)), torch.nn.Flatten()]
        else:
            raise NotImplementedError(kind)
        if getattr(layer, "activation", None) is not None and \
                layer.activation.__name__ == "relu":
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def captum_ig(model, X: np.ndarray, n_steps: int):
    """A timed run of captum's IntegratedGradients on a PyTorch copy, or None."""
    try:
        import torch
        from captum.attr import IntegratedGradients as CaptumIG
    except ImportError:
        return None
    net = torch_copy(model)
    x = torch.tensor(X if X.ndim == 2 else X.transpose(0, 3, 1, 2).copy())
    out_gap = float(np.abs(net(x).detach().numpy() - model.predict(X, verbose=0)).max())
    ig = CaptumIG(net)

    def attribute() -> np.ndarray:
        a = ig.attribute(x, baselines=0.0, target=0, n_steps=n_steps,
                         method="gausslegendre").detach().numpy()
        return a if X.ndim == 2 else a.transpose(0, 2, 3, 1)
    attribute()  # warm-up
    return attribute, out_gap


def memory_table(fn, row: np.ndarray, max_batch: int) -> list[list]:
    """Temporary device bytes of the compiled IG step, for growing instances and steps."""
    out = []
    for n, steps in ((256, 32), (4096, 32), (4096, 128), (65536, 8192)):
        p = plan(n, steps, max_batch)
        step = make_step(fn, path_sampler, steps, p.block, p.n_blocks, False, False)
        x = jax.ShapeDtypeStruct((p.rows, *row.shape), np.float32)
        vec = jax.ShapeDtypeStruct((steps,), np.float32)
        i = jax.ShapeDtypeStruct((p.rows,), np.int32)
        mem = step.lower(fn.params, x, x, (vec, vec), i, i, jax.random.key(0)).compile() \
            .memory_analysis()
        temp = getattr(mem, "temp_size_in_bytes", None)
        out.append([n, steps, max_batch, p.rows, p.block, p.n_blocks, p.model_rows,
                    "-" if temp is None else f"{temp / 2**20:.2f} MiB"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer instances (a smoke run)")
    ap.add_argument("--n-steps", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=None, help="model rows per call")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (best is kept)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cases = {"MLP 64 features": (mlp(), rng.normal(size=(256 if args.quick else 1024, 64))),
             "CNN 32x32x3": (cnn(), rng.normal(size=(16 if args.quick else 64, 32, 32, 3)))}
    rows = []
    for name, (model, X) in cases.items():
        X = X.astype("float32")
        fn = xaicore.export(model)
        _, best_n = raw_grad_rate(fn, X[0])
        g = jax.jit(jax.grad(lambda z, fn=fn: fn.apply_flat(fn.params, z).sum()))
        xr = jax.numpy.asarray(np.repeat(X[:1], best_n, axis=0))
        jax.block_until_ready(g(xr))
        run_ig = xaicore_ig(fn, X, args.n_steps, args.max_batch)
        cap = captum_ig(model, X, args.n_steps)
        best = {"raw": np.inf, "ig": np.inf, "captum": np.inf}
        for _ in range(args.rounds):           # interleaved: a shared CPU drifts
            dt, _ = timed(lambda g=g, xr=xr: jax.block_until_ready(g(xr)))
            best["raw"] = min(best["raw"], dt)
            dt, att = timed(run_ig)
            best["ig"] = min(best["ig"], dt)
            if cap is not None:
                dt, cvals = timed(cap[0])
                best["captum"] = min(best["captum"], dt)
        limit = best_n / best["raw"]
        inst = len(X) / best["ig"]
        crate = len(X) / best["captum"] if cap is not None else None
        rows.append([name, f"IG gausslegendre x{args.n_steps}", len(X), inst,
                     inst * args.n_steps, f"{limit:.4g} (batch {best_n})",
                     inst * args.n_steps / limit, att.stats["rows_per_call"],
                     f"{att.stats['max_completeness_gap']:.1e}",
                     "-" if cap is None else crate,
                     "-" if cap is None else f"{inst / crate:.2f}x",
                     "-" if cap is None else f"{np.abs(att.values - cvals).max():.1e}",
                     "-" if cap is None else f"{cap[1]:.1e}"])
    print(environment())
    print(table(rows, ["model", "method", "instances", "instances/s", "model rows/s",
                       "raw fwd+bwd rows/s", "fraction of raw", "rows per call",
                       "max completeness gap", "captum instances/s", "xaicore / captum",
                       "max |xaicore - captum|", "max |torch - keras| output"]))
    print("\nDevice memory of one IG call (MLP): fixed by the chunk shape, not by n or steps")
    fn = xaicore.export(cases["MLP 64 features"][0])
    print(table(memory_table(fn, np.zeros(64, np.float32), args.max_batch or 4096),
                ["instances", "n_steps", "max_batch", "rows/call", "steps/block",
                 "blocks (scan)", "model rows in flight", "XLA temp buffers"]))


if __name__ == "__main__":
    main()
