"""Fast Numba kernels against the slow NumPy twin (tests/naive.py)."""
import naive
import numpy as np
import pytest

from numbaplay.nn.adam import clip_and_adam
from numbaplay.nn.net import Workspace, backward, forward
from numbaplay.nn.params import NetSpec, init_params, layout, offsets
from numbaplay.nn.policy import masked_log_softmax, ppo_head_grads
from numbaplay.ppo.gae import gae, normalize

# Tolerance model (SPEC section 8): tensors through float32 BLAS vs the float64 twin.
RTOL_BLAS = 1e-4
ATOL_BLAS = 1e-7
SPECS = [("mlp", 18, 9), ("resmlp", 18, 9), ("mlp", 84, 7), ("resmlp", 84, 7)]


def assert_tensor_close(a, b, name=""):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    err = np.max(np.abs(a - b)) if a.size else 0.0
    tol = RTOL_BLAS * np.max(np.abs(b)) + ATOL_BLAS if b.size else ATOL_BLAS
    assert err <= tol, f"{name}: max|a-b| = {err:.3g} > {tol:.3g}"


def random_batch(rng, n, obs_size, n_act, spec_t, params):
    obs = (rng.random((n, obs_size)) < 0.3).astype(np.float32)
    mask = (rng.random((n, n_act)) < 0.6).astype(np.uint8)
    mask[np.arange(n), rng.integers(0, n_act, n)] = 1
    action = np.array([rng.choice(np.flatnonzero(m)) for m in mask], np.int64)
    logits, _ = naive.forward(params, spec_t, obs)
    logp_now = naive.masked_log_softmax(logits, mask.astype(bool))[np.arange(n), action]
    # logp_old chosen so that r stays well away from the clip edges (SPEC section 8).
    shift = rng.choice([-0.5, -0.05, 0.0, 0.05, 0.5], n)
    logp_old = (logp_now - shift).astype(np.float32)
    adv = rng.normal(size=n).astype(np.float32)
    ret = rng.uniform(-1, 1, n).astype(np.float32)
    return dict(obs=obs, mask=mask, action=action, logp_old=logp_old, adv=adv, ret=ret)


@pytest.mark.parametrize("arch,obs_size,n_act", SPECS)
def test_init_matches_twin(arch, obs_size, n_act):
    spec = NetSpec(arch, obs_size, 16, 3, n_act)
    for seed in (0, 1, 2**63 + 5):
        ours = init_params(spec, seed)
        ref = naive.init_params(tuple(spec.array()), seed)
        np.testing.assert_array_equal(ours, ref)
    assert [(n, s) for n, s, _ in layout(spec)] == [(n, tuple(s)) for n, s, _ in naive.param_layout(
        tuple(spec.array()))]


@pytest.mark.parametrize("arch,obs_size,n_act", SPECS)
def test_forward_backward_match_twin(arch, obs_size, n_act):
    rng = np.random.default_rng(7)
    spec = NetSpec(arch, obs_size, 16, 3, n_act)
    spec_t = tuple(int(v) for v in spec.array())
    params = init_params(spec, 3)
    params += rng.normal(scale=0.2, size=params.shape).astype(np.float32)  # break init symmetry
    n = 37
    b = random_batch(rng, n, obs_size, n_act, spec_t, params)
    cfg = dict(clip_eps=0.2, vf_coef=0.5, ent_coef=0.05)
    ws = Workspace(spec.array(), 64)
    logits = np.zeros((64, n_act), np.float32)
    vpre = np.zeros(64, np.float32)
    forward(params, spec.array(), offsets(spec), b["obs"], n, ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre)
    ref_logits, ref_value = naive.forward(params, spec_t, b["obs"])
    assert_tensor_close(logits[:n], ref_logits, "logits")
    assert_tensor_close(np.tanh(vpre[:n]), ref_value, "value")
    dl = np.zeros((64, n_act), np.float32)
    dv = np.zeros(64, np.float32)
    stats = np.zeros(6)
    ppo_head_grads(dl, dv, stats, logits, vpre, b["mask"], b["action"], b["logp_old"], b["adv"], b["ret"], n,
                   cfg["clip_eps"], cfg["vf_coef"], cfg["ent_coef"])
    ref_loss = naive.ppo_loss(params, spec_t, b, cfg)
    for i, key in enumerate(("policy", "value", "entropy", "approx_kl", "clip_frac", "loss")):
        assert abs(stats[i] - ref_loss[key]) <= 1e-4 * max(1.0, abs(ref_loss[key])), key
    assert np.all(dl[:n][b["mask"] == 0] == 0.0)
    grad = np.zeros_like(params)
    backward(grad, params, spec.array(), offsets(spec), b["obs"], n, ws.hs, ws.us, ws.pre, ws.xh, ws.rs,
             dl, dv, ws.dh, ws.dt)
    ref = naive.ppo_grad(params, spec_t, b, cfg)
    for name, shape, off in layout(spec):
        size = int(np.prod(shape))
        assert_tensor_close(grad[off:off + size], ref[off:off + size], name)


def test_masked_softmax_extremes():
    logits = np.array([1e4, -1e4, 3.0, 1e4 - 1, 0.0], np.float32)
    mask = np.array([0, 1, 1, 1, 0], np.uint8)
    logp = np.zeros(5, np.float32)
    ent = masked_log_softmax(logp, logits, mask)
    p = np.exp(logp.astype(np.float64))
    assert p[0] == 0.0 and p[4] == 0.0
    legal = logits[mask == 1].astype(np.float64)
    ref = np.exp(legal - legal.max()) / np.exp(legal - legal.max()).sum()
    np.testing.assert_allclose(p[mask == 1], ref, rtol=1e-6, atol=1e-30)
    assert np.isfinite(ent) and ent >= 0


def test_gae_and_normalisation_match_twin():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 6, 40)
    n = int(lengths.sum())
    done = np.zeros(n, np.uint8)
    done[np.cumsum(lengths) - 1] = 1
    reward = np.where(done == 1, rng.choice([-1.0, 0.0, 0.5, 1.0], n), 0.0).astype(np.float32)
    value = rng.uniform(-1, 1, n).astype(np.float32)
    adv = np.zeros(n, np.float32)
    ret = np.zeros(n, np.float32)
    gae(adv, ret, reward, value, done, n, 0.99, 0.95)
    ref_adv, ref_ret = naive.gae(reward, value, done, 0.99, 0.95)
    np.testing.assert_array_equal(adv, ref_adv)
    np.testing.assert_array_equal(ret, ref_ret)
    out = np.zeros(n, np.float32)
    normalize(out, adv, n)
    np.testing.assert_array_equal(out, naive.normalize_advantages(ref_adv))


@pytest.mark.parametrize("size", [300, 70_013])  # the serial path and the chunked parallel one
def test_clip_and_adam_match_twin(size):
    rng = np.random.default_rng(2)
    p = rng.normal(size=size).astype(np.float32)
    m = np.zeros(size, np.float32)
    v = np.zeros(size, np.float32)
    rp, rm, rv, rt = p.copy(), m.copy(), v.copy(), 0
    for t in range(1, 6):
        g = rng.normal(scale=0.3 * (300 / size) ** 0.5, size=size).astype(np.float32)
        g[::7] = 0.0  # dead units: their moments decay towards the subnormal flush
        norm = clip_and_adam(p, g.copy(), m, v, t, 1e-3, 0.5)
        gc, ref_norm = naive.clip_grad_norm(g, 0.5)
        rp, rm, rv, rt = naive.adam_step(rp, gc, rm, rv, rt, 1e-3)
        assert norm == pytest.approx(ref_norm, rel=1e-12)
        np.testing.assert_array_equal(p, rp)
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(v, rv)
