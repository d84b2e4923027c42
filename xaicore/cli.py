"""The ``xaicore`` command line: ``xaicore demo`` and ``xaicore explain``."""
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
    ex = sub.add_parser("explain", help="explain the rows of a data file with a saved "
                                          "Keras model; chunked, resumable",
                        description="Explain every row of DATA (.npy/.npz/.csv) with MODEL "
                                    "(.keras). Results go to OUT/attribution.npz; each chunk "
                                    "is saved as it is done, and running the same command "
                                    "again resumes where it stopped.")
    ex.add_argument("model", help=".keras model file")
    ex.add_argument("data", help="rows to explain: .npy, .npz (array 'x') or .csv")
    ex.add_argument("--method", default="kernelshap",
                    help="kernelshap (default), permutationshap, exactshap, lime, "
                         "integratedgradients, expectedgradients, saliency, "
                         "gradientxinput, smoothgrad, vargrad")
    ex.add_argument("--out", required=True, help="output folder")
    ex.add_argument("--background", default=None,
                    help="background rows file (default: --background-rows rows of DATA)")
    ex.add_argument("--background-rows", type=int, default=None)   # None: 64, if needed
    ex.add_argument("--target", default="predicted",
                    help="output index, 'predicted' (default) or 'all'")
    ex.add_argument("--chunk", type=int, default=1024, help="rows per saved part")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--header", default="auto",
                    help="whether the first line of a .csv file names the columns: yes, no "
                         "or auto (default: when one of its cells is text)")
    ex.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a method option, e.g. --option n_samples=2048 (repeatable)")
    ex.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.command == "demo":
        from .jobs._demo import run_demo

        run_demo(out=args.out, n_explain=args.rows, seed=args.seed)
    elif args.command == "explain":
        return _explain(args)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from ._errors import XaicoreError
    from .jobs._file_jobs import parse_option, run_job

    try:
        options = dict(parse_option(o) for o in args.option)
        att = run_job(args.model, args.data, args.out, method=args.method,
                      background=args.background, background_rows=args.background_rows,
                      target=args.target, chunk=args.chunk, seed=args.seed,
                      options=options, header=args.header,
                      progress=False if args.quiet else None,
                      log=None if args.quiet else print)
    except XaicoreError as e:
        print(f"xaicore explain: error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        top = ", ".join(f"{n} ({v:.3g})" for n, v in att.top_features(5))
        print(f"top features by mean |value|: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
