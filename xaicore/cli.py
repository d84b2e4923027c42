"""The ``xaicore`` command line: ``xaicore demo``, ``xaicore explain`` and ``xaicore bench``."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .jobs._options import METHODS, WITH_BACKGROUND


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" for every option that has a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        d = action.default
        if d is None or d is False or d == [] or d == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``xaicore`` command (``demo`` and ``explain``)."""
    parser = argparse.ArgumentParser(prog="xaicore", formatter_class=_Help,
                                     description="Fast attributions for Keras models.",
                                     epilog="Compiled steps are cached on disk (JAX's "
                                            "persistent cache, ~/.cache/xaicore/jax) so that "
                                            "a job run again starts faster; "
                                            "XAICORE_COMPILE_CACHE=DIR moves it, =0 turns it "
                                            "off.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="demo, explain or bench (xaicore COMMAND --help for its "
                                     "options)")
    demo = sub.add_parser("demo", formatter_class=_Help,
                          help="train a small Keras model on scikit-learn's wine data, "
                               "export it, explain it with every method",
                          description="Train a small Keras model on scikit-learn's wine data "
                                      "(no download), export it, explain it with every "
                                      "method and print what each found.")
    demo.add_argument("--out", default="xaicore-demo",
                      help="folder for the .npz results (one per method)")
    demo.add_argument("--rows", type=int, default=32, help="wines to explain")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the training, the background draw and the methods")
    ex = sub.add_parser("explain", formatter_class=_Help,
                        help="explain the rows of a data file with a saved Keras model; "
                             "chunked, resumable",
                        description="Explain every row of DATA (.npy/.npz/.csv) with MODEL "
                                    "(.keras). Results go to OUT/attribution.npz; each chunk "
                                    "is saved as it is done, and running the same command "
                                    "again resumes where it stopped. Every argument is "
                                    "checked before anything is written.")
    ex.add_argument("model", help=".keras model file")
    ex.add_argument("data", help="rows to explain: .npy, .npz (array 'x', or its only one) "
                                 "or .csv (comma-separated numbers; see --header)")
    ex.add_argument("--method", default="kernelshap",
                    help=f"attribution method: {', '.join(METHODS)}")
    ex.add_argument("--out", required=True,
                    help="output folder (new, or one holding this same job, to resume it)")
    ex.add_argument("--background", default=None, metavar="FILE",
                    help=f"background rows file (.npy/.npz/.csv), for "
                         f"{', '.join(WITH_BACKGROUND)} (default: --background-rows rows "
                         "drawn from DATA)")
    ex.add_argument("--background-rows", type=int, default=None, metavar="N",
                    help="rows of DATA drawn (with --seed) as the background when no "
                         "--background file is given (default: 64, for the methods that "
                         "take a background)")
    ex.add_argument("--target", default="predicted",
                    help="output to explain: an output index, 'predicted' (each row's "
                         "largest output) or 'all'")
    ex.add_argument("--chunk", type=int, default=1024, metavar="N",
                    help="rows per saved part (the unit of resumption)")
    ex.add_argument("--seed", type=int, default=0,
                    help="seed of every random choice (background draw, sampling, noise)")
    ex.add_argument("--header", default="auto",
                    help="whether the first line of a .csv file names the columns: yes, no "
                         "or auto (when one of its cells is text: neither a number nor "
                         "empty)")
    ex.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a keyword argument of the method, e.g. --option n_samples=2048 or "
                         "--option paired=false (repeatable)")
    ex.add_argument("--columns", default=None, metavar="A,B,...",
                    help="the feature columns of a .parquet DATA file (default: every "
                         "column); the others are carried through as ids")
    ex.add_argument("--engine", default="local", choices=["local", "ray"],
                    help="local: every local JAX device; ray: a pool of Ray actors")
    ex.add_argument("--devices", default="all", metavar="N",
                    help="local engine: how many local JAX devices take parts (or 'all')")
    ex.add_argument("--workers", type=int, default=None, metavar="N",
                    help="ray engine: actors in the pool (default: one per CPU, or per "
                         "GPU on a cluster with GPUs)")
    ex.add_argument("--ray-address", default=None, metavar="ADDRESS",
                    help="ray engine: the cluster to join, e.g. auto or ray://host:10001 "
                         "(default: a new local one)")
    ex.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                    help="ray engine: GPUs per actor (default: 1 on a cluster with GPUs)")
    ex.add_argument("--parquet-out", action="store_true",
                    help="also write OUT/attribution.parquet (row, id columns, target, "
                         "base values, values)")
    ex.add_argument("--no-merge", action="store_true",
                    help="leave the results as parts (OUT/parts/), for jobs larger than "
                         "memory; read them with xaicore.load_job(OUT)")
    ex.add_argument("--quiet", action="store_true",
                    help="no progress bars or messages (errors still go to stderr)")
    _bench_parser(sub)
    return parser


def _bench_parser(sub: Any) -> None:
    b = sub.add_parser("bench", formatter_class=_Help,
                       help="methods and peers on the same functions: error against exact "
                            "truths, speed against the raw limit",
                       description="Run xaicore's methods and the installed peers (shap, "
                                   "shapiq, captum, lime) on a suite of models at the same "
                                   "numbers of model evaluations; score them against exact "
                                   "Shapley values (enumeration, a closed-form game) and time "
                                   "them against the raw forward limit. Writes OUT/bench.json, "
                                   "OUT/bench.md and OUT/bench_<case>.png.")
    b.add_argument("--suite", default="quick", help="smoke (CI, tiny), quick or full")
    b.add_argument("--methods", default=None,
                   help="comma-separated xaicore methods (default: all of "
                        "kernelshap, permutation, exact, lime, ig, eg, saliency, smoothgrad)")
    b.add_argument("--peers", default="shap,shapiq,captum,lime",
                   help="comma-separated peers, or 'none'; a peer that is not installed is "
                        "skipped with a note")
    b.add_argument("--device", default=None,
                   help="cpu or gpu (default: JAX's default device)")
    b.add_argument("--budgets", default=None,
                   help="comma-separated coalition budgets (model evaluations per row and "
                        "background row; default: the suite's)")
    b.add_argument("--repeats", type=int, default=None,
                   help="warm repeats per entry, the median counts (default: the suite's)")
    b.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--quiet", action="store_true", help="no progress bar or table")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xaicore`` command."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ._compile_cache import cache_off_by_env, compile_cache

    if not cache_off_by_env():   # a job run again loads its compiled steps from disk
        try:
            compile_cache()
        except Exception:  # noqa: BLE001 - an unwritable cache folder never stops a job
            pass
    if args.command == "demo":
        from .jobs._demo import run_demo

        run_demo(out=args.out, n_explain=args.rows, seed=args.seed)
    elif args.command == "explain":
        return _explain(args)
    elif args.command == "bench":
        return _bench(args, argv)
    return 0


def _bench(args: argparse.Namespace, argv: list[str] | None) -> int:
    from ._errors import XaicoreError
    from .bench import run_bench

    command = "xaicore " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        run_bench(args.suite, methods=args.methods, peers=args.peers, device=args.device,
                  budgets=args.budgets, repeats=args.repeats, out=args.out, seed=args.seed,
                  progress=False if args.quiet else None,
                  log=None if args.quiet else print, command=command)
    except XaicoreError as e:
        print(f"xaicore bench: error: {e}", file=sys.stderr)
        return 2
    return 0


def _explain(args: argparse.Namespace) -> int:
    from ._errors import XaicoreError
    from .jobs._dataset import explain_dataset
    from .jobs._file_jobs import parse_option

    try:
        options = dict(parse_option(o) for o in args.option)
        devices = args.devices if args.devices == "all" else _count(args.devices)
        columns = None if args.columns is None else [
            c.strip() for c in args.columns.split(",") if c.strip()]
        job = explain_dataset(args.model, args.data, out=args.out, method=args.method,
                              background=args.background,
                              background_rows=args.background_rows, target=args.target,
                              chunk=args.chunk, seed=args.seed, options=options,
                              header=args.header, columns=columns, engine=args.engine,
                              devices=devices if args.engine == "local" else None,
                              workers=args.workers, ray_address=args.ray_address,
                              gpus_per_worker=args.gpus_per_worker,
                              merge=not args.no_merge, parquet_out=args.parquet_out,
                              progress=False if args.quiet else None,
                              log=None if args.quiet else print)
    except XaicoreError as e:
        print(f"xaicore explain: error: {e}", file=sys.stderr)
        return 2
    if not args.quiet and not args.no_merge:
        top = ", ".join(f"{n} ({v:.3g})" for n, v in job.merged().top_features(5))
        print(f"top features by mean |value|: {top}")
    return 0


def _count(text: str) -> int:
    from ._errors import InputError

    try:
        return int(text)
    except ValueError:
        raise InputError(f"--devices: expected a count or 'all', got {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
