"""Fast Numba kernels against the slow NumPy twin (tests/naive.py)."""
import naive
import numpy as np
import pytest
from numba import njit

from numbaplay.nn.adam import _div_by, clip_and_adam, combine_grad_norm, grad_norm
from numbaplay.nn.mathf import exp32, fma32
from numbaplay.nn.net import (
    FM_MAX_ROWS,
    FM_MIN_HIDDEN,
    Workspace,
    _bias_relu_transpose,
    backward,
    backward_shards,
    feature_major,
    forward,
    forward_at,
    forward_pieces,
)
from numbaplay.nn.params import NetSpec, init_params, layout, offsets
from numbaplay.nn.policy import masked_log_softmax, ppo_head_grads, sample_action, sample_action_logp
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


@pytest.mark.parametrize("depth", [1, 3], ids=["depth1", "depth3"])
@pytest.mark.parametrize("arch,obs_size,n_act", SPECS)
def test_forward_backward_match_twin(arch, obs_size, n_act, depth):
    """Depth 1 is a single layer (mlp) or the input layer and the final LayerNorm only (resmlp)."""
    rng = np.random.default_rng(7)
    spec = NetSpec(arch, obs_size, 16, depth, n_act)
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


def test_bias_relu_transpose_is_exact():
    rng = np.random.default_rng(5)
    t = rng.normal(size=(40, 13)).astype(np.float32)
    b = rng.normal(size=40).astype(np.float32)
    out = np.full((13, 40), np.nan, np.float32)
    want = np.maximum(t + b[:, None], np.float32(0.0))  # float32 sum, then the select
    _bias_relu_transpose(t, b, out)
    np.testing.assert_array_equal(t, want)
    np.testing.assert_array_equal(out, want.T)


@pytest.mark.parametrize("arch,hidden,depth", [("mlp", 16, 1), ("mlp", 16, 2), ("mlp", 16, 5),
                                                ("mlp", FM_MIN_HIDDEN, 4), ("resmlp", 16, 1), ("resmlp", 16, 2),
                                                ("resmlp", 16, 6)])
def test_inference_workspace_gives_the_full_workspaces_outputs(arch, hidden, depth):
    """A forward into an inference workspace (two layers deep) gives bit for bit the logits and values of
    one into a full workspace, pieces at an offset included, and matches the twin; rows outside the
    pieces stay untouched."""
    rng = np.random.default_rng(13)
    spec = NetSpec(arch, 18, hidden, depth, 9)
    sa, spec_t, offs = spec.array(), tuple(int(v) for v in spec.array()), offsets(spec)
    params = init_params(spec, 6)
    params += rng.normal(scale=0.1, size=params.shape).astype(np.float32)
    rows = 200
    x = (rng.random((rows, 18)) < 0.3).astype(np.float32)
    cuts = np.array([3, 40, 150, 190], np.int64)  # pieces of 37 (feature-major when wide), 110 and 40 rows
    out = {}
    for inference in (False, True):
        ws = Workspace(sa, rows, inference=inference)
        assert ws.hs.shape[0] == (min(depth, 2) if inference else depth)
        logits = np.zeros((rows, 9), np.float32)
        vpre = np.zeros(rows, np.float32)
        forward_pieces(params, sa, offs, x, ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre, cuts)
        for buf in (ws.hs, ws.us, ws.pre, ws.xh):
            assert not np.any(buf[:, :3]) and not np.any(buf[:, 190:])
        out[inference] = (logits, vpre)
    np.testing.assert_array_equal(out[True][0], out[False][0])
    np.testing.assert_array_equal(out[True][1], out[False][1])
    ref_logits, ref_value = naive.forward(params, spec_t, x[3:190])
    assert_tensor_close(out[True][0][3:190], ref_logits, "logits")
    assert_tensor_close(np.tanh(out[True][1][3:190]), ref_value, "value")


def test_feature_major_mlp_forward_matches_twin_and_row_major():
    """An mlp wide enough for the feature-major forward: a few rows at an offset inside larger buffers go
    feature-major, more than FM_MAX_ROWS go row-major; logits, values and every layer's output (the
    backward's cache) agree with the twin and with each other."""
    rng = np.random.default_rng(11)
    spec = NetSpec("mlp", 18, FM_MIN_HIDDEN, 3, 9)
    sa, spec_t = spec.array(), tuple(int(v) for v in spec.array())
    params = init_params(spec, 4)
    params += rng.normal(scale=0.05, size=params.shape).astype(np.float32)
    rows = 2 * FM_MAX_ROWS + 8
    x = (rng.random((rows, 18)) < 0.3).astype(np.float32)
    _, _, cache = naive.forward_cache(params, spec_t, x)
    ref_logits, ref_value = naive.forward(params, spec_t, x)
    outs = {}
    for r0, n in ((30, 29), (0, FM_MAX_ROWS + 1)):  # rows 30..58 feature-major, then 0..64 row-major
        assert feature_major(FM_MIN_HIDDEN, n) == (n <= FM_MAX_ROWS)
        ws = Workspace(sa, rows)
        logits = np.zeros((rows, 9), np.float32)
        vpre = np.zeros(rows, np.float32)
        forward_at(params, sa, offsets(spec), x, r0, n, ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre)
        sl = slice(r0, r0 + n)
        assert_tensor_close(logits[sl], ref_logits[sl], "logits")
        assert_tensor_close(np.tanh(vpre[sl]), ref_value[sl], "value")
        for k in range(3):
            assert_tensor_close(ws.hs[k, sl], np.maximum(cache["layers"][k][1][sl], 0.0), f"layer {k}")
            assert np.all(ws.hs[k, sl] >= 0)
        assert not np.any(ws.hs[:, :r0]) and not np.any(ws.hs[:, r0 + n:])  # only its own rows written
        outs[n <= FM_MAX_ROWS] = (logits, ws.hs)
    sl = slice(30, 59)
    assert_tensor_close(outs[True][0][sl], outs[False][0][sl], "logits, feature-major vs row-major")
    assert_tensor_close(outs[True][1][:, sl], outs[False][1][:, sl], "layers, feature-major vs row-major")


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


def test_sampling_kernels_match_twin_exactly():
    # The rollout's draw (`sample_action`, masks through selects) and the learner's draw with its
    # log-probability (`sample_action_logp`) against the twin's pinned float32/float64 recipe, actions bit for bit:
    # random masks, tied and extreme logits, illegal entries larger than every legal one, u at both ends.
    rng = np.random.default_rng(5)
    e = np.empty(9, np.float32)
    for case in range(600):
        n_act = 9 if case % 2 else 7
        mask = (rng.random(n_act) < 0.5).astype(np.uint8)
        mask[rng.integers(n_act)] = 1
        scale = (0.01, 1.0, 30.0, 1e4)[case % 4]
        logits = (rng.standard_normal(n_act) * scale).astype(np.float32)
        if case % 5 == 0:
            logits = np.round(logits).astype(np.float32)  # ties
        if case % 7 == 0:
            logits[mask == 0] = np.float32(1e6)  # an illegal logit above every legal one
        u = (0.0, 1.0 - 2.0**-53, rng.random())[case % 3]
        for tau in (0.0, 1.0, 1.5, 0.5):
            assert sample_action(logits, mask, tau, u, e) == naive.sample_action(logits, mask, tau, u), (case, tau)
        a, logp = sample_action_logp(logits, mask, u, e)
        assert a == naive.sample_action(logits, mask, 1.0, u), case
        full = np.empty(n_act, np.float32)
        masked_log_softmax(full, logits, mask)
        assert logp == full[a], case  # the rollout's logp_old is the update's log-softmax entry, bit for bit
        # The twin's float32 exp and log are correctly rounded; libm's can be an ulp off (1 case in 600 here).
        twin = naive.masked_log_softmax32(logits, mask)
        legal = mask != 0
        assert np.all(np.isneginf(full[~legal]))
        np.testing.assert_array_max_ulp(full[legal], twin[legal], maxulp=1)


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
    # Buffers of 0, 1 and 2 transitions (under 2 normalise to 0) as the twin; rows past n untouched.
    for k in (0, 1, 2):
        out = np.full(n, 7.0, np.float32)
        normalize(out, adv, k)
        np.testing.assert_array_equal(out[:k], naive.normalize_advantages(adv[:k]))
        assert np.all(out[k:] == 7.0)


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
        assert norm == ref_norm  # the same float64 additions in the same order
        np.testing.assert_array_equal(p, rp)
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(v, rv)


@njit
def exp_all(out, xs):
    for i in range(xs.shape[0]):
        out[i] = exp32(xs[i])


def test_exp32_within_one_ulp_and_clamped():
    x = np.concatenate([np.linspace(-87, 87, 200_001), np.random.default_rng(0).normal(scale=5, size=20_000)])
    x = x.astype(np.float32)
    ours = np.array([exp32(v) for v in x[:2000]], np.float32)  # the scalar kernel itself
    ref = np.exp(x.astype(np.float64))
    assert np.all(np.abs(ours - ref[:2000]) <= np.spacing(ref[:2000].astype(np.float32)))
    out = np.empty_like(x)
    exp_all(out, x)  # the vectorised loop
    assert np.all(np.abs(out - ref) <= np.spacing(ref.astype(np.float32)))
    assert exp32(np.float32(0.0)) == 1.0
    # Clamped: never inf, 0 or subnormal.
    assert exp32(np.float32(200.0)) == exp32(np.float32(87.0)) < np.inf
    assert exp32(np.float32(-200.0)) == exp32(np.float32(-87.0)) >= np.finfo(np.float32).tiny


def test_dot8_matches_twin_exactly():
    from numbaplay.nn.net import _dot8
    rng = np.random.default_rng(3)
    for h in [*range(0, 35), 255, 256, 1001]:
        for scale in (1e-3, 1.0, 1e4):
            a = (rng.normal(size=h) * scale).astype(np.float32)
            b = rng.normal(size=h).astype(np.float32)
            assert _dot8(a, b) == naive.dot8(a, b), h


@pytest.mark.parametrize("size", [5, 4096, 4103, 70_013])
def test_grad_norm_order_matches_twin_exactly(size):
    rng = np.random.default_rng(size)
    grads = rng.normal(size=(2, size)).astype(np.float32)
    assert grad_norm(grads[0].copy()) == np.sqrt(naive.grad_sumsq(grads[0]))
    whole = grads[0] + grads[1]  # float32, shard order
    norm = combine_grad_norm(grads, 2)
    np.testing.assert_array_equal(grads[0], whole)
    assert norm == np.sqrt(naive.grad_sumsq(whole))


@pytest.mark.parametrize("arch,obs_size,n_act", SPECS)
# one piece and shard; one piece, two shards (63: an even cut of a batch_size of 64); two pieces, two shards
@pytest.mark.parametrize("n", [1, 63, 64, 130])
@pytest.mark.parametrize("shards", [2, 5])  # the default `update_shards`; more (130 rows: five of 26)
def test_pieces_and_shards_match_twin(arch, obs_size, n_act, n, shards):
    from numbaplay.nn.rows import inference_cuts, shard_cuts
    rng = np.random.default_rng(11)
    spec = NetSpec(arch, obs_size, 16, 3, n_act)
    spec_t = tuple(int(v) for v in spec.array())
    params = init_params(spec, 5)
    params += rng.normal(scale=0.2, size=params.shape).astype(np.float32)
    b = random_batch(rng, n, obs_size, n_act, spec_t, params)
    arr, offs = spec.array(), offsets(spec)
    ws = Workspace(arr, n)
    logits = np.zeros((n, n_act), np.float32)
    vpre = np.zeros(n, np.float32)
    ref_logits, ref_v = naive.forward(params, spec_t, b["obs"])
    forward_pieces(params, arr, offs, b["obs"], ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre,
                   inference_cuts(n))
    assert_tensor_close(logits, ref_logits, "logits")
    assert_tensor_close(np.tanh(vpre), ref_v, "value")
    cuts = shard_cuts(n, shards)
    assert cuts.shape[0] - 1 == min(max(n // 24, 1), shards)
    forward_pieces(params, arr, offs, b["obs"], ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre, cuts)
    dlogits = np.zeros((n, n_act), np.float32)
    dvpre = np.zeros(n, np.float32)
    head = np.zeros(6)
    ppo_head_grads(dlogits, dvpre, head, logits, vpre, b["mask"], b["action"], b["logp_old"], b["adv"],
                   b["ret"], n, 0.2, 0.5, 0.01)
    grads = np.zeros((shards, params.shape[0]), np.float32)
    backward_shards(grads, params, arr, offs, b["obs"], ws.hs, ws.us, ws.pre, ws.xh, ws.rs, dlogits, dvpre,
                    ws.dh, ws.dt, cuts)
    combine_grad_norm(grads, cuts.shape[0] - 1)
    cfg = {"clip_eps": 0.2, "vf_coef": 0.5, "ent_coef": 0.01, "max_grad_norm": 0.5}
    batch = dict(b, mask=b["mask"].astype(bool))
    assert_tensor_close(grads[0], naive.ppo_grad(params, spec_t, batch, cfg), "grad")


@pytest.mark.parametrize("batch_size", [64, 256])
def test_every_minibatch_of_an_even_cut_runs_as_two_shards(batch_size):
    """Cutting N transitions evenly into ceil(N / batch_size) minibatches gives batch_size - 1 rows as
    well as batch_size; both must split across two threads (with 32 rows a shard, 63 did not)."""
    from numbaplay.nn.rows import shard_cuts
    from numbaplay.ppo.update import minibatch_bounds
    for n in range(10 * batch_size, 12 * batch_size):
        for rows in np.diff(minibatch_bounds(n, batch_size)):
            assert shard_cuts(rows, 2).shape[0] - 1 == 2, (n, rows)


@njit
def _fma_all(out, a, b, c):
    for i in range(a.shape[0]):
        out[i] = fma32(a[i], b[i], c[i])


def test_fma32_rounds_once():
    # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: the product alone rounds the 2^-24 away (a tie, to even), the
    # fused multiply-add keeps it.
    a = np.float32(1 + 2**-12)
    c = np.float32(-(1 + 2**-11))
    assert a * a + c == 0.0
    assert fma32(a, a, c) == np.float32(2**-24)
    # Against float64, where the product of two float32 is exact (the vectorised loop and the scalar).
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 50_000)).astype(np.float32)
    ref = (x[0].astype(np.float64) * x[1] + x[2]).astype(np.float32)
    out = np.empty_like(x[0])
    _fma_all(out, x[0], x[1], x[2])
    np.testing.assert_array_equal(out, ref)
    assert fma32(x[0, 0], x[1, 0], x[2, 0]) == ref[0]


@pytest.mark.parametrize("obs_size,n_act,hidden", [(18, 9, 16), (84, 7, 15)])  # 15: unequal unit parts
@pytest.mark.parametrize("n", [1, 63, 130])  # one shard; two shards of 32 and 31 rows; two of 65
def test_mlp_unit_step_matches_twin(obs_size, n_act, hidden, n):
    """The mlp update step's pieces (`numbaplay.ppo.update`): the gradient within the BLAS tolerance of the
    twin's, the norm exactly the twin's unit-part order, clip + Adam exactly the twin's."""
    from numbaplay.nn.net import unit_pieces
    from numbaplay.nn.rows import shard_cuts
    from numbaplay.ppo.update import UNIT_STRIDE, unit_adam_parts, unit_backward_shards, unit_grads_parts, unit_norm
    rng = np.random.default_rng(n + hidden)
    spec = NetSpec("mlp", obs_size, hidden, 3, n_act)
    spec_t = tuple(int(v) for v in spec.array())
    params = init_params(spec, 3) + rng.normal(scale=0.2, size=n_params_of(spec)).astype(np.float32)
    b = random_batch(rng, n, obs_size, n_act, spec_t, params)
    arr, offs = spec.array(), offsets(spec)
    ws = Workspace(arr, n)
    logits = np.zeros((n, n_act), np.float32)
    vpre = np.zeros(n, np.float32)
    cuts = shard_cuts(n, 2)
    forward_pieces(params, arr, offs, b["obs"], ws.hs, ws.us, ws.pre, ws.xh, ws.rs, logits, vpre, cuts, True)
    dlogits = np.zeros((n, n_act), np.float32)
    dvpre = np.zeros(n, np.float32)
    ppo_head_grads(dlogits, dvpre, np.zeros(6), logits, vpre, b["mask"], b["action"], b["logp_old"], b["adv"],
                   b["ret"], n, 0.2, 0.5, 0.01)
    grad = np.full(params.shape[0], np.nan, np.float32)  # every entry must be written
    partial = np.zeros(2 * UNIT_STRIDE)
    unit_backward_shards(ws.us, params, arr, offs, ws.hs, dlogits, dvpre, cuts)
    unit_grads_parts(grad, partial, arr, offs, b["obs"], n, ws.hs, ws.us, dlogits, dvpre)
    cfg = {"clip_eps": 0.2, "vf_coef": 0.5, "ent_coef": 0.01, "max_grad_norm": 0.5}
    batch = dict(b, mask=b["mask"].astype(bool))
    assert_tensor_close(grad, naive.ppo_grad(params, spec_t, batch, cfg), "grad")
    # The pieces cover the vector once, in the twin's order, and the norm is the twin's to the last bit.
    pieces = [[tuple(r) for r in unit_pieces(arr, offs, p)] for p in range(2)]
    assert pieces == naive.unit_pieces(spec_t)
    assert sorted(r for part in pieces for r in part)[0][0] == 0
    assert sum(hi - lo for part in pieces for lo, hi in part) == params.shape[0]
    norm = unit_norm(partial)
    assert naive.unit_halves(spec_t, 1)  # the twin's unit-half norm order (whatever batch size takes it)
    gc, ref_norm = naive.clip_grad_norm(grad, 0.05, spec_t, 1)  # a small max norm, so that it clips
    assert norm == ref_norm
    m = np.zeros_like(params)
    v = np.zeros_like(params)
    rp, rm, rv, _ = naive.adam_step(params, gc, m, v, 0, 1e-3)
    unit_adam_parts(params, grad, m, v, arr, offs, 1, 1e-3, 0.05, norm)
    np.testing.assert_array_equal(params, rp)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(v, rv)


def n_params_of(spec):
    return int(offsets(spec)[-1])


@njit(error_model="numpy")
def _div_mismatches(xs, s):
    s_inv = np.float32(1.0) / s
    bad = 0
    for x in xs:
        if _div_by(x, s, s_inv) != x / s:
            bad += 1
    return bad


def test_adam_division_by_sqrt_bc2_is_exact():
    """Adam's sqrt(v) / sqrt(bc2) without a division (`numbaplay.nn.adam._div_by`) equals the division bit
    for bit over its whole domain: every mantissa of six binades spread over [2^-63, 2^64) and a million
    random floats there, for s = float32(sqrt(1 - 0.999^t)) at early, middle and late steps."""
    mant = np.arange(2**23, dtype=np.int64)
    bits = np.concatenate([(e << 23) | mant for e in (64, 65, 100, 127, 150, 190)] +
                          [np.random.default_rng(0).integers(0x20000000, 0x5F800000, 1_000_000)])
    xs = np.concatenate([bits.astype(np.uint32).view(np.float32), np.zeros(1, np.float32)])
    for t in (1, 2, 3, 10, 99, 1000, 4321, 10_000, 25_000):
        s = np.float32(np.sqrt(1.0 - 0.999**t))
        assert _div_mismatches(xs, s) == 0, t


def test_agents_share_a_workspace_without_mixing_results():
    """Agents reuse one workspace per network shape (numbaplay.agent._workspace); interleaved forwards of
    different shapes, parameters and row counts each match the twin."""
    from numbaplay.agent import Agent

    rng = np.random.default_rng(3)
    specs = [NetSpec("mlp", 18, 16, 3, 9), NetSpec("resmlp", 18, 16, 3, 9), NetSpec("mlp", 18, 16, 3, 9)]
    agents = [Agent("tictactoe", spec, init_params(spec, seed) + rng.normal(scale=0.1, size=n_p).astype(np.float32))
              for seed, spec in enumerate(specs) for n_p in [init_params(spec, 0).shape[0]]]
    for n in (5, 200, 3, 70):
        for agent in agents:
            obs = (rng.random((n, 18)) < 0.3).astype(np.float32)
            logits, value = agent.forward(obs)
            ref_logits, ref_value = naive.forward(agent.params, tuple(int(v) for v in agent.spec.array()), obs)
            assert_tensor_close(logits, ref_logits, "logits")
            assert_tensor_close(value, ref_value, "value")
