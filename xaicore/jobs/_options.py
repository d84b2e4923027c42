"""A job's method and its ``--option key=value`` settings, checked against the method's
``__init__`` signature before anything runs."""
from __future__ import annotations

import ast
import inspect
import json
from typing import Any

import numpy as np

from .._errors import InputError

#: ``--method`` name -> (class name, needs a background, takes a seed)
METHODS = {
    "kernelshap": ("KernelShap", True, True),
    "permutationshap": ("PermutationShap", True, True),
    "exactshap": ("ExactShap", True, False),
    "lime": ("Lime", True, True),
    "integratedgradients": ("IntegratedGradients", False, False),
    "expectedgradients": ("ExpectedGradients", True, True),
    "saliency": ("Saliency", False, False),
    "gradientxinput": ("GradientXInput", False, False),
    "smoothgrad": ("SmoothGrad", False, True),
    "vargrad": ("VarGrad", False, True),
}
#: Methods that take a background (the others refuse ``--background``).
WITH_BACKGROUND = tuple(m for m, (_, needs_bg, _) in METHODS.items() if needs_bg)
#: Keyword arguments a job sets itself: name -> the flag that sets it.
RESERVED = {"seed": "--seed", "progress": "--quiet"}
TRUE = ("true", "yes", "1")
FALSE = ("false", "no", "0")


def check_method(method: Any) -> str:
    if method not in METHODS:
        raise InputError(f"--method: expected one of {sorted(METHODS)}, got {method!r}")
    return method


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with ``value`` a Python literal (``1024``, ``0.1``, ``"riemann"``) or a
    bare word (taken as a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise InputError(f"--option: expected key=value (e.g. n_samples=1024), got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def method_class(method: str) -> type:
    from .. import methods

    return getattr(methods, METHODS[method][0])


def method_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword arguments ``cls(model, [background,] **kw)`` takes: its ``__init__``'s,
    and those of the base classes it hands ``**kwargs`` on to."""
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        sig = inspect.signature(init)
        for i, (name, p) in enumerate(sig.parameters.items()):
            if i == 0 or name in ("model", "background") or p.kind in (
                    p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            params.setdefault(name, p)
        if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            break
    return params


def _is_bool(p: inspect.Parameter) -> bool:
    return isinstance(p.default, bool) or p.annotation in (bool, "bool")


def parse_bool(key: str, value: Any) -> bool:
    """``True``/``False``, ``1``/``0`` or the words true/false, yes/no, 1/0 in any case."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise InputError(f"--option {key}: expected true/false (yes/no, 1/0), got {value!r}")


def check_options(method: str, options: dict) -> dict:
    """``options`` for ``method``: names it takes, booleans parsed; refuses the rest."""
    cls = method_class(method)
    params = method_parameters(cls)
    valid = sorted(n for n in params if n not in RESERVED)
    out = {}
    for key, value in options.items():
        if key in RESERVED:
            raise InputError(f"--option {key}: set by {RESERVED[key]}, not as an option")
        if key not in valid:
            raise InputError(f"--option: {cls.__name__} does not take {key!r}; it takes: "
                             f"{', '.join(valid)}")
        if _is_bool(params[key]):
            value = parse_bool(key, value)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise InputError(f"--option {key}: expected a number, a string, a list or a dict "
                             f"(it is written to manifest.json), got {value!r}") from None
        out[key] = value
    return out


def build_explainer(method: str, fn: Any, background: np.ndarray | None, seed: int,
                    options: dict, progress: bool | None) -> Any:
    """The method's explainer; its argument errors name the ``--option`` they come from."""
    cls = method_class(method)
    _, needs_bg, seeded = METHODS[method]
    kw = dict(options, progress=progress)
    if seeded:
        kw["seed"] = seed
    try:
        return cls(fn, background, **kw) if needs_bg else cls(fn, **kw)
    except InputError as e:
        if str(e).partition(":")[0] in options:
            raise InputError(f"--option {e}") from None
        raise
    except (TypeError, ValueError) as e:
        raise InputError(f"--option: {cls.__name__} refused these options ({e})") from None
