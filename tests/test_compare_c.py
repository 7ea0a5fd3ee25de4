"""`numbaplay.cref.compare` and `numbaplay compare-c`: Numba against the C reference (SPEC section 8).

Small parity cases for both games and both architectures run here; the acceptance run (full presets,
10,000 replays, timing) is recorded in results/compare-c.md. The binary is built once per session; the
tests skip only when there is no C compiler.
"""
from __future__ import annotations

import json
import shutil

import numba
import numpy as np
import pytest
from click.testing import CliRunner

from numbaplay.cli import main
from numbaplay.cref import build as cbuild
from numbaplay.cref import compare as cmp
from numbaplay.errors import CReferenceError
from numbaplay.games import get_game
from numbaplay.nn.params import NetSpec, layout

CASES = [(game, arch) for game in ("ttt-seed", "c4-seed") for arch in cmp.ARCHES]
CASE_IDS = ["ttt-mlp", "ttt-resmlp", "c4-mlp", "c4-resmlp"]
TINY = ["--size", "small", "--replays", "20", "--iterations", "1", "--warmup", "1"]


@pytest.fixture(scope="session")
def binary():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc or gcc): `apt-get install gcc` to compare against the C reference")
    return cbuild.build_binary()


def small_cfg(preset, arch):
    return cmp.parity_config(preset, arch, "small")


def assert_all_ok(parity):
    # Under NUMBA_DISABLE_JIT the masked softmax runs on NumPy's float32 exp/log, not the C library's
    # expf/logf that compiled Numba and C share, so on C's logits it is a few ulp off instead of equal.
    skip = " (C logits)" if numba.config.DISABLE_JIT else None
    bad = [f"{r.tensor}: {r.max_abs:.3g} vs bound {r.bound:.3g} {r.note}" for r in parity.rows
           if not r.ok and not (skip and r.tensor.endswith(skip))]
    assert not bad, bad


def assert_cli_ok(result):
    """Exit 0; under NUMBA_DISABLE_JIT also exit 1 when only the softmax rows on C's logits fail."""
    if result.exit_code == 1 and numba.config.DISABLE_JIT:
        if result.stdout.lstrip().startswith("{"):
            failed = [r["tensor"] for r in json.loads(result.stdout)["parity"] if not r["ok"]]
        else:
            failed = [ln for ln in result.stdout.splitlines() if ln.startswith("  NOT OK")]
        assert failed and all("(C logits)" in f for f in failed), failed
        return
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("preset,arch", CASES, ids=CASE_IDS)
def test_kernel_parity_small(binary, preset, arch):
    cfg = small_cfg(preset, arch)
    parity = cmp.kernel_parity(cfg, f"{cfg.game} {arch} small", rows=cmp.SMALL_ROWS)
    assert_all_ok(parity)
    names = {r.tensor: r for r in parity.rows}
    # Every gradient tensor of the layout is its own row, within the BLAS tolerance.
    for lname, _, _ in layout(parity.spec):
        row = names[f"grad/{lname}"]
        assert row.kind == "blas" and row.max_rel <= cmp.BLAS_RTOL
    assert names["out.probs (C logits)"].kind == "ulp" and names["adam.params (C grad)"].kind == "ulp"
    assert names["rng.permutation"].kind == "exact" and names["gae.adv_norm"].kind == "ulp"
    assert names["batch.r"].max_abs >= cmp.R_MARGIN                      # r far from the clip edges
    assert np.all(parity.c_out["out.probs"][parity.case["batch.mask"] == 0] == 0.0)


@pytest.mark.parametrize("preset,arch", CASES, ids=CASE_IDS)
def test_train_iteration0_parity_small(binary, preset, arch):
    cfg = small_cfg(preset, arch)
    parity = cmp.train0_parity(cfg, f"{cfg.game} {arch} small", threads=1)
    assert_all_ok(parity)
    kinds = {r.tensor: r.kind for r in parity.rows}
    assert kinds["iter0.moves"] == kinds["iter0.opponent"] == kinds["iter0.action"] == "exact"
    assert kinds["iter0.logp_old"] == kinds["iter0.value"] == "blas"
    assert kinds["params/pi.W"] == "blas" and kinds["log.policy_loss"] == "stats"
    assert parity.c_out["iter0.moves"].shape == (cfg.games_per_iter, parity.numba_out["iter0.moves"].shape[1])


@pytest.mark.parametrize("game", ["tictactoe", "connect4"])
def test_replays_identical(binary, game):
    parity = cmp.replay_parity(game, 300, chunk=128)
    assert_all_ok(parity)
    assert {r.tensor for r in parity.rows} == {"replay.mask", "replay.obs", "replay.state", "replay.status"}
    assert parity.rows[0].size == 300 * (get_game(game).max_plies + 1) * get_game(game).n_actions


def test_perturbed_gradient_fails_naming_the_tensor(binary):
    cfg = small_cfg("ttt-seed", "resmlp")
    parity = cmp.kernel_parity(cfg, "perturbed", rows=cmp.SMALL_ROWS)
    assert parity.ok
    name, shape, off = next(entry for entry in layout(parity.spec) if entry[0] == "blk1.W")
    c_out = dict(parity.c_out)
    grad = c_out["grad"].copy()
    grad[off + 5] += 1e-3 * np.abs(grad[off:off + int(np.prod(shape))]).max()
    c_out["grad"] = grad
    rows = cmp.compare_kernels("perturbed", parity.spec, parity.case, parity.numba_out, c_out)
    failed = {r.tensor for r in rows if not r.ok}
    assert "grad/blk1.W" in failed
    assert not any(t.startswith("grad/") and t != "grad/blk1.W" for t in failed)


def test_compare_tensor_kinds():
    a = np.array([1.0, 2.0], np.float32)
    assert cmp.compare_tensor("c", "t", a, a, "exact").ok
    b = np.nextafter(a, np.float32(3.0))
    assert not cmp.compare_tensor("c", "t", b, a, "exact").ok                    # one ulp is not exact
    moves = np.array([3, 4, -1], np.int64)
    assert not cmp.compare_tensor("c", "t", np.array([3, 5, -1], np.int64), moves, "exact").ok
    assert not cmp.compare_tensor("c", "t", a[:1], a, "exact").ok                # shape mismatch
    assert cmp.compare_tensor("c", "t", a * np.float32(1 + 0.5 * cmp.STATS_RTOL), a, "stats").ok
    assert not cmp.compare_tensor("c", "t", a * np.float32(1 + 4 * cmp.STATS_RTOL) + np.float32(cmp.STATS_ATOL),
                                  a, "stats").ok
    row = cmp.compare_tensor("c", "t", b, a, "ulp")
    assert row.ok and row.max_ulp == 1.0
    far = a + np.float32(1e-3)
    assert not cmp.compare_tensor("c", "t", far, a, "ulp").ok
    assert not cmp.compare_tensor("c", "t", far, a, "blas").ok
    assert cmp.compare_tensor("c", "t", a * np.float32(1 + 5e-5), a, "blas").ok
    assert not cmp.compare_tensor("c", "t", a[:1], a, "blas").ok                 # shape mismatch
    assert cmp.compare_tensor("c", "t", np.array([-0.0], np.float32), np.array([0.0], np.float32), "ulp").ok


def test_cli_smoke(binary, tmp_path):
    runner = CliRunner()
    pdf = str(tmp_path / "r.pdf")
    result = runner.invoke(main, ["compare-c", "--game", "tictactoe", *TINY, "--pdf", pdf])
    assert_cli_ok(result)
    out = result.stdout
    assert "tictactoe resmlp small kernels" in out and "grad/blk1.W" in out
    assert numba.config.DISABLE_JIT or ("\n  NOT OK" not in out and "tensors judged, 0 NOT OK" in out)
    assert "speed: ttt-seed (small)" in out and "Numba / C" in out
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    result = runner.invoke(main, ["compare-c", "--game", "connect4", *TINY, "--iterations", "0", "--json"])
    assert_cli_ok(result)
    data = json.loads(result.stdout)
    assert data["ok"] or numba.config.DISABLE_JIT
    assert data["timing"] == [] and any(r["tensor"] == "grad/out_ln.g" for r in data["parity"])


def test_cli_exits_1_on_a_parity_failure(binary, monkeypatch):
    real = cmp.run_binary

    def perturbed(mode, case, **kwargs):
        out = real(mode, case, **kwargs)
        if mode == "kernels" and "grad" in out:               # one entry of pi.W's gradient, 1% of its max
            _, shape, off = next(e for e in layout(NetSpec.from_array(case["net.spec"])) if e[0] == "pi.W")
            part = out["grad"][off:off + int(np.prod(shape))]
            part[3] += np.float32(0.01) * np.abs(part).max()
        return out

    monkeypatch.setattr(cmp, "run_binary", perturbed)
    result = CliRunner().invoke(main, ["compare-c", "--game", "tictactoe", *TINY, "--iterations", "0"])
    assert result.exit_code == 1, result.output
    failed = result.stdout.split("\nparity:")[-1]
    assert "NOT OK: tictactoe mlp small kernels: grad/pi.W" in failed
    assert "tictactoe resmlp small kernels: grad/pi.W" in failed
    assert "grad/fc0.W" not in failed and "grad/v.W" not in failed and "train iteration 0" not in failed


def test_dump_writes_npz_and_refuses_to_overwrite(binary, tmp_path):
    runner = CliRunner()
    args = ["compare-c", "--game", "tictactoe", *TINY, "--iterations", "0", "--dump", str(tmp_path)]
    result = runner.invoke(main, args)
    assert_cli_ok(result)
    case = np.load(tmp_path / "tictactoe-mlp-small-kernels-case.npz")
    c_out = np.load(tmp_path / "tictactoe-mlp-small-kernels-c.npz")
    nb = np.load(tmp_path / "tictactoe-mlp-small-kernels-numba.npz")
    assert list(case["layout.name"][:2]) == ["fc0.W", "fc0.b"] and case["layout.shape"][0] == "16x18"
    assert c_out["grad"].shape == nb["grad"].shape == case["params"].shape
    assert "iter0.moves" in np.load(tmp_path / "tictactoe-resmlp-small-train0-c.npz")
    before = (tmp_path / "tictactoe-mlp-small-kernels-c.npz").read_bytes()
    again = runner.invoke(main, args)
    assert again.exit_code == 2
    assert "never overwritten" in again.stderr and "\n" not in again.stderr.strip()
    assert (tmp_path / "tictactoe-mlp-small-kernels-c.npz").read_bytes() == before


def test_cli_bad_preset_and_missing_toolchain(monkeypatch):
    runner = CliRunner()
    result = runner.invoke(main, ["compare-c", "--game", "connect4", "--preset", "ttt-seed"])
    assert result.exit_code == 2 and "is for tictactoe" in result.output

    def no_compiler(force=False):
        raise CReferenceError("no C compiler (cc or gcc) found: install one with `apt-get install gcc`")

    import numbaplay.cref.build as build_mod

    monkeypatch.setattr(build_mod, "build_binary", no_compiler)
    result = runner.invoke(main, ["compare-c", "--game", "tictactoe", *TINY])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("numbaplay: error: no C compiler (cc or gcc) found: install one with "
                                     "`apt-get install gcc`")
