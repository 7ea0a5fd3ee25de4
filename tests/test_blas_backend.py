"""The kernels' BLAS backend (numbaplay.nn.blas): MKL where installed, else SciPy's OpenBLAS, picked by
NUMBAPLAY_BLAS. The process running the suite has one backend bound; the other is checked in a child."""
import json
import os
import subprocess
import sys

import pytest

from numbaplay.nn import blas

CHILD = r"""
import json, numpy as np
from numbaplay.nn.blas import gemm_nn, gemm_nt, gemm_tn, kernel_blas
rng = np.random.default_rng(3)
a = rng.standard_normal((37, 45)).astype(np.float32)
b = rng.standard_normal((29, 45)).astype(np.float32)
d = rng.standard_normal((37, 29)).astype(np.float32)
out = {"backend": kernel_blas(), "err": []}
for _ in range(2):  # the same call twice gives the same bits
    c1 = np.ones((37, 29), np.float32); gemm_nt(c1, a, b, np.float32(1.0))
    c2 = np.zeros((29, 45), np.float32); gemm_tn(c2, d, a, np.float32(0.0))
    c3 = np.zeros((37, 45), np.float32); gemm_nn(c3, d, b, np.float32(0.0))
    ref = [a.astype(np.float64) @ b.T + 1, d.T.astype(np.float64) @ a, d.astype(np.float64) @ b]
    out["err"].append([float(np.abs(c - r).max() / np.abs(r).max()) for c, r in zip((c1, c2, c3), ref)])
    out.setdefault("bits", []).append(float(c1.sum() + c2.sum() + c3.sum()))
print(json.dumps(out))
"""


def _child(backend):
    env = {**os.environ, "NUMBAPLAY_BLAS": backend}
    return subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("backend", ["openblas", pytest.param("mkl", marks=pytest.mark.skipif(
    blas._find_mkl() is None, reason="the mkl package is not installed here"))])
def test_each_backend_in_a_child_matches_numpy(backend):
    done = _child(backend)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["backend"] == backend
    assert max(max(e) for e in out["err"]) < 1e-5
    assert out["bits"][0] == out["bits"][1]


def test_bound_backend_is_reported():
    info = blas.kernel_blas_info()
    assert info["name"] in ("mkl", "openblas")
    assert blas.kernel_blas() == info["name"] and info["version"]
    wanted = os.environ.get("NUMBAPLAY_BLAS", "auto")
    if wanted == "auto":  # MKL is picked wherever it loads
        assert (info["name"] == "mkl") == (blas._find_mkl() is not None)


def test_bad_backend_is_a_one_line_error(tmp_path):
    env = {**os.environ, "NUMBAPLAY_BLAS": "cublas"}
    done = subprocess.run([sys.executable, "-m", "numbaplay", "train", "tictactoe", "--iterations", "1",
                           "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "numbaplay: error: NUMBAPLAY_BLAS='cublas' is not a BLAS backend; choose one of auto, mkl, openblas"]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_mkl_asked_for_but_missing_is_a_one_line_error(tmp_path):
    # A child where no libmkl_rt can be found (glob finds nothing), asking for MKL explicitly.
    code = ("import glob, sys; glob.glob = lambda *a, **k: []; sys.argv[0] = 'numbaplay'; "
            "from numbaplay.cli import main; main()")
    env = {**os.environ, "NUMBAPLAY_BLAS": "mkl"}
    done = subprocess.run([sys.executable, "-c", code, "train", "tictactoe", "--iterations", "1", "--out",
                           str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "NUMBAPLAY_BLAS=mkl, but MKL is unavailable" in lines[0], done.stderr
    assert "pip install mkl" in lines[0] and not (tmp_path / "run").exists()
    # With auto, the same machine falls back to OpenBLAS and says why in the backend info.
    probe = ("import glob; glob.glob = lambda *a, **k: []; from numbaplay.nn.blas import kernel_blas_info; "
             "i = kernel_blas_info(); print(i['name'], i['mkl_unavailable'])")
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "NUMBAPLAY_BLAS": "auto"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "openblas the mkl package is not installed"
