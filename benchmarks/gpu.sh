#!/usr/bin/env bash
# xaicore bench on an accelerator: installs what it needs, runs the full suite with every
# peer on the GPU, and leaves bench.json / bench.md / PNGs (and the log) under $OUT.
#
#   OUT=/some/folder bash benchmarks/gpu.sh        # from the repository root
#
# Budget: under 8 minutes (installs ~2-3 min where a package index is reachable; the suite
# is capped by `timeout`). Installs that fail (no index reachable) are reported and the run
# goes on with what is importable: missing peers are skipped with a note in bench.json.
set -uo pipefail
OUT="${OUT:-benchmarks/gpu-results}"
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
exec > >(tee -a "$LOG") 2>&1
echo "== $(date -Is) $(uname -a)"; nvidia-smi -L || true
PY="${PYTHON:-python3}"
"$PY" --version

# 1. Installs (each may fail offline; the run continues).
"$PY" -m pip install -q -e ".[bench]" || echo "pip: xaicore[bench] install failed"
"$PY" -m pip install -q -U "jax[cuda12]" || echo "pip: jax[cuda12] install failed"
"$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null \
  || "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cu124 \
  || echo "pip: CUDA torch install failed (captum runs on CPU or is skipped)"
"$PY" -m pip install -q captum shapiq lime || echo "pip: peer install failed"

# 2. What the run will use: JAX sees the GPU, the CPU cache-sized call defaults are off.
"$PY" - <<'PY' || { echo "JAX has no GPU: stopping"; exit 3; }
import jax
from xaicore.engine._batching import preferred_batch
gpu = jax.devices("gpu")[0]
print("jax", jax.__version__, "default backend", jax.default_backend(), "device", gpu)
assert preferred_batch(64, 65536) == 65536, "CPU cache-sized defaults active on GPU"
print("engine call defaults: accelerator sizes (CPU cache sizing off)")
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.cuda.is_available())
except ImportError:
    print("torch: not installed (captum skipped)")
PY

# 3. The full suite with every peer, on the GPU.
export XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_HOME="$OUT/keras-home"
timeout 330 "$PY" -m xaicore bench --suite full --device gpu \
  --peers shap,shapiq,captum,lime --out "$OUT" --quiet
rc=$?
[ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
echo "== exit $rc; results in $OUT (bench.json, bench.md, bench_*.png, gpu.log)"
exit $rc
