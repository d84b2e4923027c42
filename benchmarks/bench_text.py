"""Text KernelShap as a share of the raw forward throughput, on a small sequence model.

Embedding(vocab, 32) -> Conv1D(64, 5) -> GlobalMaxPooling1D -> Dense(2) on token ids of
length ``--length`` (a quarter of the rows padded at the end), explained with
``xaicore.explain_text(KernelShap(model, background=MASK_ID), ids, pad_id=0)``: each
position a player, padding none (per-row groups). Raw forward and explain are timed in
alternating rounds; best and median of each, and the fraction of the raw limit reached
(model rows/s of the explain over the jitted forward's rows/s).

    python benchmarks/bench_text.py [--quick] [--rounds 5] [--rows 64] [--n-samples 512]
        [--varied]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

import numpy as np

from common import environment, raw_forward_rate

import xaicore

PAD, MASK = 0, 1


def model(vocab: int, length: int):
    import keras

    init = keras.initializers.GlorotUniform(seed=0)
    return keras.Sequential([
        keras.Input((length,), dtype="int32"),
        keras.layers.Embedding(vocab, 32, embeddings_initializer="uniform", name="embedding"),
        keras.layers.Conv1D(64, 5, padding="same", activation="relu", kernel_initializer=init),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(2, kernel_initializer=init)], name="text_cnn")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a smoke run (few rows, 2 rounds)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--length", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--n-samples", type=int, default=512)
    ap.add_argument("--varied", action="store_true",
                    help="rows of random lengths L/4..L (each length a pattern of players, "
                         "its design built on first sight: the first round shows that cost)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.rows = 2, 8
    print(subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip())
    print(environment())
    rng = np.random.default_rng(0)
    ids = rng.integers(2, args.vocab, (args.rows, args.length)).astype("int32")
    quarter = args.rows // 4
    ids[:quarter, args.length // 2:] = PAD                  # padded rows: fewer players
    if args.varied:    # every row its own length (as real text): many patterns of players
        for i, n in enumerate(rng.integers(args.length // 4, args.length + 1, args.rows)):
            ids[i, n:] = PAD
    m = model(args.vocab, args.length)
    fn = xaicore.export(m)
    ks = xaicore.KernelShap(fn, MASK, n_samples=args.n_samples, seed=0, n_boot=0,
                            progress=False)
    xaicore.explain_text(ks, ids[:2], target=1, pad_id=PAD)        # compile
    t = time.perf_counter()
    xaicore.explain_text(ks, ids, target=1, pad_id=PAD)             # every pattern's design
    print(f"first call (compiled; designs of every pattern built): "
          f"{time.perf_counter() - t:.3f} s")
    raw, explain = [], []
    rows = 0
    for _ in range(args.rounds):
        raw.append(raw_forward_rate(fn, ids[0], sizes=(1024, 4096), repeats=2)[0])
        t = time.perf_counter()
        att = xaicore.explain_text(ks, ids, target=1, pad_id=PAD)
        secs = time.perf_counter() - t
        rows = att.stats["model_rows"]
        explain.append(rows / secs)
    best_raw, med_raw = max(raw), statistics.median(raw)
    best_ex, med_ex = max(explain), statistics.median(explain)
    print(f"text KernelShap: {args.rows} rows x {args.length} tokens, n_samples "
          f"{args.n_samples}, {rows} model rows per explain, {args.rounds} rounds")
    print(f"raw forward   rows/s  best {best_raw:12.0f}  median {med_raw:12.0f}")
    print(f"explain_text  rows/s  best {best_ex:12.0f}  median {med_ex:12.0f}")
    print(f"fraction of raw       best {best_ex / best_raw:12.3f}  median "
          f"{med_ex / med_raw:12.3f}")
    print(f"instances/s (best)    {best_ex / rows * args.rows:.1f}")
    print(f"cpus {os.cpu_count()}; the lead re-runs this on a quiet machine")


if __name__ == "__main__":
    main()
