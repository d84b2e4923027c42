"""``import xaicore`` stays light: no TensorFlow, shap, matplotlib, torch, not even Keras."""
from __future__ import annotations

import json
import subprocess
import sys


def test_import_is_light():
    code = ("import sys, time; t = time.perf_counter(); import xaicore; "
            "dt = time.perf_counter() - t; import json; print(json.dumps({'dt': dt, "
            "'mods': [m for m in ('tensorflow', 'shap', 'matplotlib', 'torch', 'keras') "
            "if m in sys.modules]}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["mods"] == []
    assert res["dt"] < 10.0  # ~1 s here; generous for a loaded CI machine
