"""The ``xaicore`` command line: ``xaicore demo``."""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xaicore`` command."""
    parser = argparse.ArgumentParser(prog="xaicore",
                                     description="Fast attributions for Keras models.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small Keras model on scikit-learn's wine "
                                       "data, export it, explain it with every method")
    demo.add_argument("--out", default="xaicore-demo", help="folder for the .npz results")
    demo.add_argument("--rows", type=int, default=32, help="rows to explain")
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(out=args.out, n_explain=args.rows, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
