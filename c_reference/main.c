/* numbaplay_c: the C reference of numbaplay's kernels and training loop.
 *
 *   numbaplay_c [--threads N] [--blas-threads N] kernels IN OUT
 *   numbaplay_c [--threads N] [--blas-threads N] train IN OUT
 *
 * IN and OUT are numbaplay tensor files (docs/FILEFORMAT.md lists every tensor of both modes).
 * Exit 0 on success; 2 with one line on stderr for a bad file, bad value or I/O error. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas_compat.h"
#include "games.h"
#include "io.h"
#include "nn.h"
#include "ppo.h"
#include "rng.h"

static const char USAGE[] =
    "usage: numbaplay_c [--threads N] [--blas-threads N] (kernels|train) IN OUT\n"
    "  kernels  forward, PPO loss and gradient, clip + Adam step, GAE, game replays, init, RNG\n"
    "  train    n_iterations of PPO self-play from the given parameters\n"
    "  --threads N       OpenMP threads over games in the rollout (default 1; results identical)\n"
    "  --blas-threads N  OpenBLAS threads (default 1, the parity setting)\n";

static int parse_count(const char *s, const char *opt) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < 1 || v > 1024) die("%s needs an integer 1..1024, got '%s'", opt, s);
    return (int)v;
}

static int64_t D[TF_MAX_NDIM];  /* scratch for shapes */

static const int64_t *dims(int64_t a, int64_t b, int64_t c, int64_t d) {
    D[0] = a; D[1] = b; D[2] = c; D[3] = d;
    return D;
}

/* The game and network every mode starts from; checks that they fit each other. */
static void read_model(TensorFile *tf, GameInfo *gi, NetLayout *lay) {
    int32_t *g = tf_get(tf, "game", DT_I32, 0, NULL, NULL);
    if (game_info(*g, gi) != 0) die("%s: unknown game id %d (0 tictactoe, 1 connect4)", tf->path, *g);
    free(g);
    int64_t *spec = tf_get(tf, "net.spec", DT_I64, 1, dims(5, 0, 0, 0), NULL);
    char err[256];
    if (nn_layout(lay, spec, err, sizeof err) != 0) die("%s: net.spec: %s", tf->path, err);
    if (lay->obs_size != gi->obs_size || lay->A != gi->n_actions)
        die("%s: net.spec has obs_size %d and A %d but the game needs %d and %d", tf->path, lay->obs_size, lay->A,
            gi->obs_size, gi->n_actions);
    free(spec);
}

static double finite_f64(TensorFile *tf, const char *name, double lo, double hi) {
    double v = tf_f64(tf, name);
    if (!isfinite(v) || v < lo || v > hi) die("%s: %s = %g is out of range [%g, %g]", tf->path, name, v, lo, hi);
    return v;
}

static int64_t ranged_i64(TensorFile *tf, const char *name, int64_t lo, int64_t hi) {
    int64_t v = tf_i64(tf, name);
    if (v < lo || v > hi)
        die("%s: %s = %lld is out of range [%lld, %lld]", tf->path, name, (long long)v, (long long)lo, (long long)hi);
    return v;
}

/* Float inputs must be finite: NaN or inf in a case file is corruption, not data. */
static void check_finite(const char *path, const char *name, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) die("%s: %s[%lld] is not finite (%g)", path, name, (long long)i, (double)x[i]);
}

/* Rows need a legal action, actions must be legal. */
static void check_batch(const char *path, const uint8_t *mask, const int32_t *action, int64_t n, int A) {
    for (int64_t i = 0; i < n; i++) {
        int any = 0;
        for (int a = 0; a < A; a++) {
            if (mask[i * A + a] > 1) die("%s: batch.mask[%lld] holds %d (must be 0 or 1)", path, (long long)i, mask[i * A + a]);
            any |= mask[i * A + a];
        }
        if (!any) die("%s: batch.mask[%lld] has no legal action (terminal position)", path, (long long)i);
        if (action[i] < 0 || action[i] >= A || !mask[i * A + action[i]])
            die("%s: batch.action[%lld] = %d is not legal in its mask", path, (long long)i, action[i]);
    }
}

static void layout_out(TensorWriter *tw, const NetLayout *lay) {
    int64_t off[NN_MAX_TENSORS + 1], size[NN_MAX_TENSORS];
    for (int t = 0; t < lay->n_tensors; t++) {
        off[t] = (int64_t)lay->off[t];
        size[t] = (int64_t)lay->size[t];
    }
    off[lay->n_tensors] = (int64_t)lay->total;
    tw_add(tw, "layout.offsets", DT_I64, 1, dims(lay->n_tensors + 1, 0, 0, 0), off);
    tw_add(tw, "layout.sizes", DT_I64, 1, dims(lay->n_tensors, 0, 0, 0), size);
}

/* ---- kernels mode ------------------------------------------------------------------------------- */

static void kernels_batch(TensorFile *tf, TensorWriter *tw, const GameInfo *gi, const NetLayout *lay) {
    const int64_t P = (int64_t)lay->total, O = gi->obs_size, A = gi->n_actions;
    int64_t sh[TF_MAX_NDIM];
    float *params = tf_get(tf, "params", DT_F32, 1, dims(P, 0, 0, 0), NULL);
    float *obs = tf_get(tf, "batch.obs", DT_F32, 2, dims(-1, O, 0, 0), sh);
    const int64_t n = sh[0];
    if (n < 1) die("%s: batch.obs has no rows", tf->path);
    uint8_t *mask = tf_get(tf, "batch.mask", DT_U8, 2, dims(n, A, 0, 0), NULL);
    int32_t *action = tf_get(tf, "batch.action", DT_I32, 1, dims(n, 0, 0, 0), NULL);
    float *logp_old = tf_get(tf, "batch.logp_old", DT_F32, 1, dims(n, 0, 0, 0), NULL);
    float *adv = tf_get(tf, "batch.adv", DT_F32, 1, dims(n, 0, 0, 0), NULL);
    float *ret = tf_get(tf, "batch.ret", DT_F32, 1, dims(n, 0, 0, 0), NULL);
    check_batch(tf->path, mask, action, n, (int)A);
    check_finite(tf->path, "params", params, P);
    check_finite(tf->path, "batch.obs", obs, n * O);
    check_finite(tf->path, "batch.logp_old", logp_old, n);
    check_finite(tf->path, "batch.adv", adv, n);
    check_finite(tf->path, "batch.ret", ret, n);
    LossCfg lc;
    lc.clip_eps = finite_f64(tf, "cfg.clip_eps", 0.0, 1.0);
    lc.vf_coef = finite_f64(tf, "cfg.vf_coef", 0.0, 1e6);
    lc.ent_coef = finite_f64(tf, "cfg.ent_coef", -1e6, 1e6);
    double max_norm = finite_f64(tf, "cfg.max_grad_norm", 0.0, 1e30);
    double lr = finite_f64(tf, "cfg.lr", 0.0, 1e6);
    float *m = tf_get(tf, "adam.m", DT_F32, 1, dims(P, 0, 0, 0), NULL);
    float *v = tf_get(tf, "adam.v", DT_F32, 1, dims(P, 0, 0, 0), NULL);
    int64_t t = ranged_i64(tf, "adam.t", 0, INT64_C(1) << 40);
    check_finite(tf->path, "adam.m", m, P);
    check_finite(tf->path, "adam.v", v, P);
    for (int64_t i = 0; i < P; i++)
        if (v[i] < 0.0f) die("%s: adam.v[%lld] is negative", tf->path, (long long)i);

    Workspace ws;
    ws_alloc(&ws, lay, (int)n);
    PolicyBuf pb;
    pb_alloc(&pb, (int)n, (int)A);
    float *grad = xcalloc((size_t)P, sizeof(float));
    LossStats st;
    ppo_loss_grad(lay, params, &ws, &pb, (int)n, obs, mask, action, logp_old, adv, ret, &lc, grad, &st);
    double norm = grad_norm(grad, (size_t)P);
    tw_add(tw, "out.logits", DT_F32, 2, dims(n, A, 0, 0), pb.logits);
    tw_add(tw, "out.value", DT_F32, 1, dims(n, 0, 0, 0), pb.value);
    tw_add(tw, "out.logp", DT_F32, 1, dims(n, 0, 0, 0), pb.logp);
    tw_add(tw, "out.entropy", DT_F32, 1, dims(n, 0, 0, 0), pb.entropy);
    tw_add(tw, "out.probs", DT_F32, 2, dims(n, A, 0, 0), pb.probs);
    tw_add(tw, "out.logp_all", DT_F32, 2, dims(n, A, 0, 0), pb.logp_all);
    tw_add(tw, "out.dlogits", DT_F32, 2, dims(n, A, 0, 0), pb.dlogits);
    tw_f64(tw, "loss.policy", st.policy);
    tw_f64(tw, "loss.value", st.value);
    tw_f64(tw, "loss.entropy", st.entropy);
    tw_f64(tw, "loss.total", st.total);
    tw_f64(tw, "loss.approx_kl", st.approx_kl);
    tw_f64(tw, "loss.clip_frac", st.clip_frac);
    tw_add(tw, "grad", DT_F32, 1, dims(P, 0, 0, 0), grad);
    tw_f64(tw, "grad.norm", norm);
    clip_grad(grad, (size_t)P, norm, max_norm);
    adam_step(params, m, v, grad, (size_t)P, &t, lr);
    tw_add(tw, "adam.params", DT_F32, 1, dims(P, 0, 0, 0), params);
    tw_add(tw, "adam.m", DT_F32, 1, dims(P, 0, 0, 0), m);
    tw_add(tw, "adam.v", DT_F32, 1, dims(P, 0, 0, 0), v);
    tw_i64(tw, "adam.t", t);
    ws_free(&ws);
    pb_free(&pb);
    free(grad); free(params); free(obs); free(mask); free(action); free(logp_old); free(adv); free(ret);
    free(m); free(v);
}

static void kernels_gae(TensorFile *tf, TensorWriter *tw) {
    int64_t sh[TF_MAX_NDIM];
    float *reward = tf_get(tf, "gae.reward", DT_F32, 1, NULL, sh);
    const int64_t T = sh[0];
    float *value = tf_get(tf, "gae.value", DT_F32, 1, dims(T, 0, 0, 0), NULL);
    uint8_t *done = tf_get(tf, "gae.done", DT_U8, 1, dims(T, 0, 0, 0), NULL);
    double gamma = finite_f64(tf, "cfg.gamma", 0.0, 1.0), lam = finite_f64(tf, "cfg.lam", 0.0, 1.0);
    check_finite(tf->path, "gae.reward", reward, T);
    check_finite(tf->path, "gae.value", value, T);
    for (int64_t k = 0; k < T; k++)
        if (done[k] > 1) die("%s: gae.done[%lld] = %d (must be 0 or 1)", tf->path, (long long)k, done[k]);
    if (T > 0 && !done[T - 1]) die("%s: gae.done must be 1 on the last transition (every game ends)", tf->path);
    float *adv = xcalloc((size_t)T, sizeof(float)), *ret = xcalloc((size_t)T, sizeof(float));
    float *norm = xcalloc((size_t)T, sizeof(float));
    gae(reward, value, done, (size_t)T, gamma, lam, adv, ret);
    normalize_advantages(adv, (size_t)T, norm);
    tw_add(tw, "gae.adv", DT_F32, 1, dims(T, 0, 0, 0), adv);
    tw_add(tw, "gae.ret", DT_F32, 1, dims(T, 0, 0, 0), ret);
    tw_add(tw, "gae.adv_norm", DT_F32, 1, dims(T, 0, 0, 0), norm);
    free(reward); free(value); free(done); free(adv); free(ret); free(norm);
}

static void kernels_replay(TensorFile *tf, TensorWriter *tw, const GameInfo *gi) {
    int64_t sh[TF_MAX_NDIM];
    int32_t *moves = tf_get(tf, "replay.moves", DT_I32, 2, NULL, sh);
    const int64_t R = sh[0], W = sh[1], Pl = gi->max_plies, S = Pl + 1, O = gi->obs_size, A = gi->n_actions;
    int32_t *length = tf_get(tf, "replay.length", DT_I32, 1, dims(R, 0, 0, 0), NULL);
    uint8_t *mask = xcalloc((size_t)(R * S * A), 1);
    float *obs = xcalloc((size_t)(R * S * O), sizeof(float));
    int32_t *status = xcalloc((size_t)(R * S), sizeof(int32_t));
    int64_t *state = xcalloc((size_t)(R * S * 4), sizeof(int64_t));
    for (int64_t r = 0; r < R; r++) {
        const int32_t *mv = moves + r * W;
        if (length[r] < 0 || length[r] > W || length[r] > Pl)
            die("%s: replay.length[%lld] = %d is out of range [0, %lld]", tf->path, (long long)r, length[r],
                (long long)(W < Pl ? W : Pl));
        for (int64_t p = length[r]; p < W; p++)
            if (mv[p] != -1) die("%s: replay.moves[%lld] is not padded with -1 after its length", tf->path, (long long)r);
        int64_t st[4];
        game_reset(st);
        for (int64_t p = 0; p < S; p++) {
            int64_t k = r * S + p;
            if (p > 0 && p <= length[r]) {
                int32_t a = mv[p - 1];
                if (!game_legal(gi->id, st, a))
                    die("%s: replay %lld: move %d at ply %lld is illegal%s", tf->path, (long long)r, a,
                        (long long)p, st[3] != ST_ONGOING ? " (the game is over)" : "");
                game_play(gi->id, st, a);
            }
            if (p <= length[r]) {
                game_mask(gi->id, st, mask + k * A);
                game_obs(gi->id, st, obs + k * O);
                status[k] = (int32_t)st[3];
                memcpy(state + k * 4, st, sizeof st);
            } else {
                status[k] = -1;  /* past the end of this replay */
            }
        }
    }
    tw_add(tw, "replay.mask", DT_U8, 3, dims(R, S, A, 0), mask);
    tw_add(tw, "replay.obs", DT_F32, 3, dims(R, S, O, 0), obs);
    tw_add(tw, "replay.status", DT_I32, 2, dims(R, S, 0, 0), status);
    tw_add(tw, "replay.state", DT_I64, 3, dims(R, S, 4, 0), state);
    free(moves); free(length); free(mask); free(obs); free(status); free(state);
}

static void kernels_rng(TensorFile *tf, TensorWriter *tw) {
    int64_t seed = tf_i64(tf, "rng.seed");
    int64_t *key = tf_get(tf, "rng.stream", DT_I64, 1, dims(3, 0, 0, 0), NULL);
    int64_t count = ranged_i64(tf, "rng.count", 0, INT64_C(1) << 24);
    uint64_t k = rng_key((uint64_t)seed, (uint64_t)key[0], (uint64_t)key[1], (uint64_t)key[2]);
    int64_t *draws = xcalloc((size_t)count, sizeof(int64_t)), *perm = xcalloc((size_t)count, sizeof(int64_t));
    double *uni = xcalloc((size_t)count, sizeof(double));
    for (int64_t n = 0; n < count; n++) {
        draws[n] = (int64_t)rng_draw(k, (uint64_t)n);
        uni[n] = rng_uniform(k, (uint64_t)n);
    }
    rng_permutation(perm, count, k);
    tw_add(tw, "rng.draws", DT_I64, 1, dims(count, 0, 0, 0), draws);
    tw_add(tw, "rng.uniform", DT_F64, 1, dims(count, 0, 0, 0), uni);
    tw_add(tw, "rng.permutation", DT_I64, 1, dims(count, 0, 0, 0), perm);
    free(key); free(draws); free(perm); free(uni);
}

static void run_kernels(const char *in, const char *out) {
    TensorFile tf;
    tf_read(&tf, in);
    GameInfo gi;
    NetLayout lay;
    read_model(&tf, &gi, &lay);
    TensorWriter tw = {0};
    layout_out(&tw, &lay);
    if (tf_find(&tf, "init.seed")) {
        float *p = xcalloc(lay.total, sizeof(float));
        nn_init(&lay, (uint64_t)tf_i64(&tf, "init.seed"), p);
        tw_add(&tw, "init.params", DT_F32, 1, dims((int64_t)lay.total, 0, 0, 0), p);
        free(p);
    }
    if (tf_find(&tf, "params")) kernels_batch(&tf, &tw, &gi, &lay);
    if (tf_find(&tf, "gae.reward")) kernels_gae(&tf, &tw);
    if (tf_find(&tf, "replay.moves")) kernels_replay(&tf, &tw, &gi);
    if (tf_find(&tf, "rng.seed")) kernels_rng(&tf, &tw);
    tf_check_all_used(&tf);
    tw_write(&tw, out);
    tw_free(&tw);
    tf_free(&tf);
}

/* ---- train mode --------------------------------------------------------------------------------- */

static void run_train(const char *in, const char *out) {
    TensorFile tf;
    tf_read(&tf, in);
    GameInfo gi;
    NetLayout lay;
    read_model(&tf, &gi, &lay);
    const int64_t P = (int64_t)lay.total;
    float *params = tf_get(&tf, "params", DT_F32, 1, dims(P, 0, 0, 0), NULL);
    check_finite(in, "params", params, P);
    TrainCfg c;
    memset(&c, 0, sizeof c);
    c.game = gi.id;
    c.gamma = finite_f64(&tf, "cfg.gamma", 0.0, 1.0);
    c.lam = finite_f64(&tf, "cfg.lam", 0.0, 1.0);
    c.clip_eps = finite_f64(&tf, "cfg.clip_eps", 0.0, 1.0);
    c.vf_coef = finite_f64(&tf, "cfg.vf_coef", 0.0, 1e6);
    c.ent_coef = finite_f64(&tf, "cfg.ent_coef", -1e6, 1e6);
    c.ent_coef_min = finite_f64(&tf, "cfg.ent_coef_min", -1e6, 1e6);
    c.max_grad_norm = finite_f64(&tf, "cfg.max_grad_norm", 0.0, 1e30);
    c.lr = finite_f64(&tf, "cfg.lr", 0.0, 1e6);
    c.lr_min = finite_f64(&tf, "cfg.lr_min", 0.0, 1e6);
    c.opp_temperature = finite_f64(&tf, "cfg.opp_temperature", 0.0, 1e6);
    c.draw_reward = finite_f64(&tf, "cfg.draw_reward", -1.0, 1.0);
    c.epochs = ranged_i64(&tf, "cfg.epochs", 1, 10000);
    c.games_per_iter = ranged_i64(&tf, "cfg.games_per_iter", 2, 1 << 20);
    if (c.games_per_iter % 2) die("%s: cfg.games_per_iter = %lld must be even", in, (long long)c.games_per_iter);
    c.batch_size = ranged_i64(&tf, "cfg.batch_size", 1, INT32_MAX);
    c.lr_schedule = ranged_i64(&tf, "cfg.lr_schedule", 0, 1);
    c.ent_schedule = ranged_i64(&tf, "cfg.ent_schedule", 0, 1);
    c.iterations = ranged_i64(&tf, "cfg.iterations", 1, INT64_C(1) << 40);
    c.pool_size = ranged_i64(&tf, "cfg.pool_size", 2, 100000);
    c.snapshot_interval = ranged_i64(&tf, "cfg.snapshot_interval", 1, INT64_C(1) << 40);
    c.random_opening_plies = ranged_i64(&tf, "cfg.random_opening_plies", 0, 40);
    c.seed = (uint64_t)tf_i64(&tf, "cfg.seed");
    c.n_iterations = ranged_i64(&tf, "cfg.n_iterations", 1, 10000000);
    tf_check_all_used(&tf);
    if ((uint64_t)P * (uint64_t)(c.pool_size + 1) > (UINT64_C(1) << 36))
        die("%s: pool_size %lld x %lld parameters needs too much memory", in, (long long)c.pool_size, (long long)P);

    TrainOut o;
    train_run(&c, &gi, &lay, params, &o);

    const int64_t G = c.games_per_iter, N = o.n0, n_it = c.n_iterations, O = gi.obs_size, A = gi.n_actions;
    TensorWriter tw = {0};
    layout_out(&tw, &lay);
    tw_add(&tw, "params", DT_F32, 1, dims(P, 0, 0, 0), params);
    tw_add(&tw, "adam.m", DT_F32, 1, dims(P, 0, 0, 0), o.adam_m);
    tw_add(&tw, "adam.v", DT_F32, 1, dims(P, 0, 0, 0), o.adam_v);
    tw_i64(&tw, "adam.t", o.adam_t);
    tw_i64(&tw, "pool.size", o.pool_len);
    const struct { const char *name; const double *data; } logs[] = {
        {"log.policy_loss", o.policy_loss}, {"log.value_loss", o.value_loss}, {"log.entropy", o.entropy},
        {"log.approx_kl", o.approx_kl}, {"log.clip_frac", o.clip_frac}, {"log.grad_norm", o.grad_norm},
        {"log.explained_var", o.explained_var}, {"log.lr", o.lr},
        {"log.ent_coef", o.ent_coef}, {"log.n_transitions", o.n_transitions},
        {"log.learner_win", o.learner_win}, {"log.learner_draw", o.learner_draw},
        {"log.learner_loss", o.learner_loss}, {"time.rollout", o.t_rollout}, {"time.gae", o.t_gae},
        {"time.update", o.t_update}, {"time.iteration", o.t_iter}};
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++)
        tw_add(&tw, logs[i].name, DT_F64, 1, dims(n_it, 0, 0, 0), logs[i].data);
    tw_add(&tw, "iter0.opponent", DT_I32, 1, dims(G, 0, 0, 0), o.opponent);
    tw_add(&tw, "iter0.seat", DT_I32, 1, dims(G, 0, 0, 0), o.seat);
    tw_add(&tw, "iter0.moves", DT_I32, 2, dims(G, gi.max_plies, 0, 0), o.moves);
    tw_add(&tw, "iter0.result", DT_I32, 1, dims(G, 0, 0, 0), o.result);
    tw_add(&tw, "iter0.obs", DT_F32, 2, dims(N, O, 0, 0), o.obs);
    tw_add(&tw, "iter0.mask", DT_U8, 2, dims(N, A, 0, 0), o.mask);
    tw_add(&tw, "iter0.action", DT_I32, 1, dims(N, 0, 0, 0), o.action);
    tw_add(&tw, "iter0.game", DT_I32, 1, dims(N, 0, 0, 0), o.game_index);
    tw_add(&tw, "iter0.logp_old", DT_F32, 1, dims(N, 0, 0, 0), o.logp_old);
    tw_add(&tw, "iter0.value", DT_F32, 1, dims(N, 0, 0, 0), o.value);
    tw_add(&tw, "iter0.reward", DT_F32, 1, dims(N, 0, 0, 0), o.reward);
    tw_add(&tw, "iter0.done", DT_U8, 1, dims(N, 0, 0, 0), o.done);
    tw_add(&tw, "iter0.adv", DT_F32, 1, dims(N, 0, 0, 0), o.adv);
    tw_add(&tw, "iter0.ret", DT_F32, 1, dims(N, 0, 0, 0), o.ret);
    tw_add(&tw, "iter0.adv_norm", DT_F32, 1, dims(N, 0, 0, 0), o.adv_norm);
    tw_write(&tw, out);
    tw_free(&tw);
    train_out_free(&o);
    free(params);
    tf_free(&tf);
}

int main(int argc, char **argv) {
    int threads = 1, blas_threads = 1, i = 1;
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) die("this build assumes a little-endian host");
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = parse_count(argv[++i], "--threads");
        } else if (strcmp(argv[i], "--blas-threads") == 0 && i + 1 < argc) {
            blas_threads = parse_count(argv[++i], "--blas-threads");
        } else {
            die("unknown or incomplete option '%s' (see --help)", argv[i]);
        }
    }
    if (argc - i != 3) {
        fputs(USAGE, stderr);
        return 2;
    }
    openblas_set_num_threads(blas_threads);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    if (threads != 1) die("--threads %d needs a build with OpenMP", threads);
#endif
    if (strcmp(argv[i], "kernels") == 0) run_kernels(argv[i + 1], argv[i + 2]);
    else if (strcmp(argv[i], "train") == 0) run_train(argv[i + 1], argv[i + 2]);
    else die("unknown mode '%s' (kernels or train)", argv[i]);
    return 0;
}
