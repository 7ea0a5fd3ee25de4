/* PPO self-play. The rollout plays all G games of an iteration in lockstep, one ply at a time: the
 * learner's rows (games where it is to move, in game order) go through one batched forward pass, the
 * opponents' rows one pass per pool entry. Every random choice reads its own counter-based stream,
 * and every parallel loop writes only its own game's or row's slots, so results do not depend on the
 * OpenMP thread count. */
#define _POSIX_C_SOURCE 200809L
#include "ppo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "io.h"
#include "rng.h"

/* Below this many rows a parallel region costs more than the per-row work it shares (microseconds). */
#define OMP_MIN_ROWS 1024

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pb_alloc(PolicyBuf *pb, int n_max, int A) {
    if (n_max < 1) n_max = 1;
    size_t na = (size_t)n_max * (size_t)A;
    pb->n_max = n_max;
    pb->A = A;
    pb->logits = xcalloc(na, sizeof(float));
    pb->value = xcalloc((size_t)n_max, sizeof(float));
    pb->logp_all = xcalloc(na, sizeof(float));
    pb->probs = xcalloc(na, sizeof(float));
    pb->entropy = xcalloc((size_t)n_max, sizeof(float));
    pb->logp = xcalloc((size_t)n_max, sizeof(float));
    pb->dlogits = xcalloc(na, sizeof(float));
    pb->du = xcalloc((size_t)n_max, sizeof(float));
}

void pb_free(PolicyBuf *pb) {
    free(pb->logits);
    free(pb->value);
    free(pb->logp_all);
    free(pb->probs);
    free(pb->entropy);
    free(pb->logp);
    free(pb->dlogits);
    free(pb->du);
    memset(pb, 0, sizeof *pb);
}

/* ---- loss and gradient -------------------------------------------------------------------------- */

void ppo_loss_grad(const NetLayout *lay, const float *params, Workspace *ws, PolicyBuf *pb, int n,
                   const float *obs, const uint8_t *mask, const int32_t *action, const float *logp_old,
                   const float *adv, const float *ret, const LossCfg *cfg, float *grad, LossStats *st) {
    const int A = lay->A;
    /* Float32 where the row terms are float32 (docs/ALGORITHM.md), sums in float64 in row order. */
    const float inv_n = 1.0f / (float)n, lo = (float)(1.0 - cfg->clip_eps), hi = (float)(1.0 + cfg->clip_eps);
    const float vf = (float)cfg->vf_coef, ent_c = (float)cfg->ent_coef;
    nn_forward(lay, params, obs, n, ws, pb->logits, pb->value);
    double sum_pol = 0.0, sum_val = 0.0, sum_ent = 0.0, sum_kl = 0.0, sum_clip = 0.0;
    for (int i = 0; i < n; i++) {
        const float *l = pb->logits + (size_t)i * A;
        const uint8_t *mk = mask + (size_t)i * A;
        float *lp = pb->logp_all + (size_t)i * A, *p = pb->probs + (size_t)i * A, *dl = pb->dlogits + (size_t)i * A;
        float H = masked_log_softmax(l, mk, A, lp, p);
        int a = action[i];
        float d = lp[a] - logp_old[i];
        float r = expf(d);
        float adv_i = adv[i];
        float rc = r < lo ? lo : (r > hi ? hi : r);
        double s1 = (double)r * adv_i, s2 = (double)rc * adv_i;
        sum_pol += -(s1 < s2 ? s1 : s2);
        float err = pb->value[i] - ret[i];
        sum_val += (double)err * (double)err;
        sum_ent += (double)H;
        sum_kl += (double)(r - 1.0f) - (double)d;
        sum_clip += fabsf(r - 1.0f) > cfg->clip_eps ? 1.0 : 0.0;
        pb->entropy[i] = H;
        pb->logp[i] = lp[a];
        /* d(policy term)/dr is -A/n where the unclipped branch is active, else 0. */
        float g_r = 0.0f;
        if ((adv_i >= 0.0f && r < hi) || (adv_i < 0.0f && r > lo)) g_r = -adv_i * inv_n;
        float g_rr = g_r * r;
        for (int b = 0; b < A; b++) {
            if (mk[b]) {
                /* policy: g_rr (onehot - p); entropy: -ent_coef/n dH/dl with dH/dl = -p (log p + H) */
                float g = -g_rr * p[b] + ent_c * inv_n * p[b] * (lp[b] + H);
                if (b == a) g += g_rr;
                dl[b] = g;
            } else {
                dl[b] = 0.0f;  /* illegal logits get exactly zero gradient */
            }
        }
        float v = pb->value[i];
        pb->du[i] = vf * 2.0f * err * inv_n * (1.0f - v * v);
    }
    st->policy = sum_pol / n;
    st->value = sum_val / n;
    st->entropy = sum_ent / n;
    st->total = st->policy + cfg->vf_coef * st->value - cfg->ent_coef * st->entropy;
    st->approx_kl = sum_kl / n;
    st->clip_frac = sum_clip / n;
    nn_backward(lay, params, obs, n, ws, pb->dlogits, pb->du, grad);
}

/* ---- GAE, normalisation, schedule ------------------------------------------------------------- */

void gae(const float *reward, const float *value, const uint8_t *done, size_t T, double gamma, double lam,
         float *adv, float *ret) {
    const float g = (float)gamma, l = (float)lam, gl = g * l;
    for (size_t k = T; k-- > 0;) {
        float a;
        if (done[k]) {
            a = reward[k] - value[k];  /* no t+1 term at the end of a game: a branch, not a 0 factor */
        } else {
            float delta = reward[k] + g * value[k + 1] - value[k];
            a = delta + gl * adv[k + 1];
        }
        adv[k] = a;
        ret[k] = a + value[k];
    }
}

void normalize_advantages(const float *adv, size_t T, float *out) {
    if (T == 0) return;
    if (T == 1) {
        out[0] = 0.0f;
        return;
    }
    double s = 0.0, q = 0.0;
    for (size_t k = 0; k < T; k++) s += (double)adv[k];
    double mean = s / (double)T;
    for (size_t k = 0; k < T; k++) {
        double d = (double)adv[k] - mean;
        q += d * d;
    }
    double std = sqrt(q / (double)T);
    for (size_t k = 0; k < T; k++) out[k] = (float)(((double)adv[k] - mean) / (std + 1e-8));
}

double lr_at(int schedule, double lr, double lr_min, int64_t iterations, int64_t i) {
    if (schedule == 0) return lr;
    int64_t last = iterations - 1;
    double x = (double)(i < last ? i : last) / (double)(last > 1 ? last : 1);
    return lr_min + (lr - lr_min) * (1.0 + cos(3.14159265358979323846 * x)) / 2.0;
}

/* ---- rollout ------------------------------------------------------------------------------------ */

typedef struct {
    int G, Tm;          /* games, most learner moves per game */
    int64_t *state;     /* [G, 4] */
    int32_t *opponent;  /* [G] pool index */
    int32_t *count;     /* [G] learner transitions so far */
    int32_t *act;       /* [G] move chosen this ply */
    int32_t *moves;     /* [G, max_plies], -1 padded */
    int32_t *rows;      /* [G] games in the current batch */
    float *x;           /* [G, obs] batch observations */
    uint8_t *xm;        /* [G, A] batch masks */
    float *logits, *value;  /* [G, A], [G] */
    /* Per-game transition slots [G, Tm, ...]. */
    float *s_obs, *s_logp, *s_value, *s_reward;
    uint8_t *s_mask;
    int32_t *s_action;
} Rollout;

static void rollout_alloc(Rollout *ro, const GameInfo *gi, int G) {
    memset(ro, 0, sizeof *ro);
    ro->G = G;
    ro->Tm = gi->max_moves;
    size_t g = (size_t)G, gt = g * (size_t)ro->Tm;
    ro->state = xcalloc(g * 4, sizeof(int64_t));
    ro->opponent = xcalloc(g, sizeof(int32_t));
    ro->count = xcalloc(g, sizeof(int32_t));
    ro->act = xcalloc(g, sizeof(int32_t));
    ro->moves = xcalloc(g * (size_t)gi->max_plies, sizeof(int32_t));
    ro->rows = xcalloc(g, sizeof(int32_t));
    ro->x = xcalloc(g * (size_t)gi->obs_size, sizeof(float));
    ro->xm = xcalloc(g * (size_t)gi->n_actions, 1);
    ro->logits = xcalloc(g * (size_t)gi->n_actions, sizeof(float));
    ro->value = xcalloc(g, sizeof(float));
    ro->s_obs = xcalloc(gt * (size_t)gi->obs_size, sizeof(float));
    ro->s_mask = xcalloc(gt * (size_t)gi->n_actions, 1);
    ro->s_action = xcalloc(gt, sizeof(int32_t));
    ro->s_logp = xcalloc(gt, sizeof(float));
    ro->s_value = xcalloc(gt, sizeof(float));
    ro->s_reward = xcalloc(gt, sizeof(float));
}

/* Set MXCSR's flush-to-zero and denormals-are-zero bits on this thread; returns the old word. A subnormal
 * operand or result costs a microcode assist of about a hundred cycles (docs/ALGORITHM.md, "Optimiser").
 * A no-op off x86-64. */
static unsigned fp_flush_enter(void) {
#if defined(__x86_64__)
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u);
    return old;
#else
    return 0;
#endif
}

static void fp_flush_exit(unsigned old) {
#if defined(__x86_64__)
    _mm_setcsr(old);
#else
    (void)old;
#endif
}

static void rollout_free(Rollout *ro) {
    free(ro->state); free(ro->opponent); free(ro->count); free(ro->act); free(ro->moves); free(ro->rows);
    free(ro->x); free(ro->xm); free(ro->logits); free(ro->value);
    free(ro->s_obs); free(ro->s_mask); free(ro->s_action); free(ro->s_logp); free(ro->s_value); free(ro->s_reward);
    memset(ro, 0, sizeof *ro);
}

/* Observation and mask of each listed game into the batch rows. */
static void gather_rows(const GameInfo *gi, Rollout *ro, int n) {
    const int O = gi->obs_size, A = gi->n_actions;
#pragma omp parallel for schedule(static) if (n >= OMP_MIN_ROWS)
    for (int r = 0; r < n; r++) {
        const int64_t *st = ro->state + 4 * (size_t)ro->rows[r];
        game_obs(gi->id, st, ro->x + (size_t)r * O);
        game_mask(gi->id, st, ro->xm + (size_t)r * A);
    }
}

/* Curriculum (docs/ALGORITHM.md "Curriculum"): game g first plays k random plies, k = below(K + 1) of
 * draw 0 of stream (CURRICULUM, iteration, g); ply j of the opening is below(n_ok) of draw j + 1 among the
 * n_ok legal moves, in index order, that do not end the game; it stops early when there is none. So every
 * game leaves its opening at a non-terminal position. The moves go into the game's move list. */
static void random_openings(const TrainCfg *cfg, const GameInfo *gi, int64_t iter, Rollout *ro) {
    const int G = ro->G, A = gi->n_actions, P = gi->max_plies;
    const int64_t K = cfg->random_opening_plies;
#pragma omp parallel for schedule(static) if (G >= OMP_MIN_ROWS)
    for (int g = 0; g < G; g++) {
        int64_t *st = ro->state + 4 * (size_t)g;
        const uint64_t key = rng_key(cfg->seed, RNG_CURRICULUM, (uint64_t)iter, (uint64_t)g);
        const int64_t k = rng_below(key, 0, K + 1);
        for (int64_t j = 0; j < k; j++) {
            int ok[GAME_MAX_ACTIONS], n_ok = 0;
            for (int a = 0; a < A; a++) {
                if (!game_legal(gi->id, st, a)) continue;
                int64_t trial[4] = {st[0], st[1], st[2], st[3]};
                game_play(gi->id, trial, a);
                if (trial[3] == ST_ONGOING) ok[n_ok++] = a;
            }
            if (n_ok == 0) break;
            const int a = ok[rng_below(key, (uint64_t)j + 1, n_ok)];
            ro->moves[(size_t)g * P + (size_t)st[2]] = a;
            game_play(gi->id, st, a);
        }
    }
}

/* Play one iteration's games; transitions land in the per-game slots. Each game has its own ply
 * (state[2]; it differs between games after a curriculum opening): the learner moves when that ply's
 * parity is g's, the ply indexes the move list and is the draw number n of the action streams. A game
 * may end without a learner move (the opponent wins on its first move after the opening): it then
 * has no transitions. */
static void rollout_run(const TrainCfg *cfg, const GameInfo *gi, const NetLayout *lay, const float *learner,
                        float *const *pool, int pool_len, int64_t iter, Workspace *ws, Rollout *ro) {
    const int G = ro->G, O = gi->obs_size, A = gi->n_actions, P = gi->max_plies, Tm = ro->Tm;
    const float draw_reward = (float)cfg->draw_reward;
    for (int g = 0; g < G; g++) {
        game_reset(ro->state + 4 * (size_t)g);
        ro->opponent[g] = (int32_t)rng_below(rng_key(cfg->seed, RNG_OPPONENT, (uint64_t)iter, (uint64_t)g), 0, pool_len);
        ro->count[g] = 0;
        for (int p = 0; p < P; p++) ro->moves[(size_t)g * P + p] = -1;
    }
    if (cfg->random_opening_plies > 0) random_openings(cfg, gi, iter, ro);
    /* One ply per unfinished game per step: P steps finish every game. */
    for (int step = 0; step < P; step++) {
        int ongoing = 0;
        for (int g = 0; g < G; g++) ongoing += ro->state[4 * (size_t)g + 3] == ST_ONGOING;
        if (!ongoing) break;
        /* Learner: games where it is to move (its seat is g's parity), in game order. */
        int n = 0;
        for (int g = 0; g < G; g++)
            if (ro->state[4 * (size_t)g + 3] == ST_ONGOING && (ro->state[4 * (size_t)g + 2] & 1) == (g & 1))
                ro->rows[n++] = g;
        if (n > 0) {
            gather_rows(gi, ro, n);
            nn_forward(lay, learner, ro->x, n, ws, ro->logits, ro->value);
#pragma omp parallel for schedule(static) if (n >= OMP_MIN_ROWS)
            for (int r = 0; r < n; r++) {
                int g = ro->rows[r];
                const float *l = ro->logits + (size_t)r * A;
                const uint8_t *mk = ro->xm + (size_t)r * A;
                float lp[GAME_MAX_ACTIONS], p[GAME_MAX_ACTIONS];
                masked_log_softmax(l, mk, A, lp, p);
                const uint64_t ply = (uint64_t)ro->state[4 * (size_t)g + 2];
                double u = rng_uniform(rng_key(cfg->seed, RNG_LEARNER_ACTION, (uint64_t)iter, (uint64_t)g), ply);
                int a = sample_action(l, mk, A, 1.0, u);
                size_t slot = (size_t)g * Tm + (size_t)ro->count[g];
                memcpy(ro->s_obs + slot * O, ro->x + (size_t)r * O, (size_t)O * sizeof(float));
                memcpy(ro->s_mask + slot * A, mk, (size_t)A);
                ro->s_action[slot] = a;
                ro->s_logp[slot] = lp[a];
                ro->s_value[slot] = ro->value[r];
                ro->s_reward[slot] = 0.0f;
                ro->count[g] += 1;
                ro->act[g] = a;
            }
        }
        /* Opponents: one batch per pool entry, each in game order. */
        for (int j = 0; j < pool_len; j++) {
            n = 0;
            for (int g = 0; g < G; g++)
                if (ro->state[4 * (size_t)g + 3] == ST_ONGOING && (ro->state[4 * (size_t)g + 2] & 1) != (g & 1) &&
                    ro->opponent[g] == j)
                    ro->rows[n++] = g;
            if (n == 0) continue;
            gather_rows(gi, ro, n);
            nn_forward(lay, pool[j], ro->x, n, ws, ro->logits, ro->value);
#pragma omp parallel for schedule(static) if (n >= OMP_MIN_ROWS)
            for (int r = 0; r < n; r++) {
                int g = ro->rows[r];
                const uint64_t ply = (uint64_t)ro->state[4 * (size_t)g + 2];
                double u = rng_uniform(rng_key(cfg->seed, RNG_OPPONENT_ACTION, (uint64_t)iter, (uint64_t)g), ply);
                ro->act[g] = sample_action(ro->logits + (size_t)r * A, ro->xm + (size_t)r * A, A, cfg->opp_temperature, u);
            }
        }
        /* Apply the moves; a finished game rewards the learner's last transition, if it has one. */
#pragma omp parallel for schedule(static) if (G >= OMP_MIN_ROWS)
        for (int g = 0; g < G; g++) {
            int64_t *st = ro->state + 4 * (size_t)g;
            if (st[3] != ST_ONGOING) continue;
            ro->moves[(size_t)g * P + (size_t)st[2]] = ro->act[g];
            game_play(gi->id, st, ro->act[g]);
            if (st[3] != ST_ONGOING && ro->count[g] > 0) {
                int seat = g & 1;
                float rwd = st[3] == ST_DRAW ? draw_reward : (st[3] == seat + 1 ? 1.0f : -1.0f);
                ro->s_reward[(size_t)g * Tm + (size_t)ro->count[g] - 1] = rwd;
            }
        }
    }
}

/* ---- training loop ------------------------------------------------------------------------------ */

/* The iteration's transitions in buffer order (game, then ply). */
typedef struct {
    size_t N;
    float *obs, *logp_old, *value, *reward, *adv, *ret, *adv_norm;
    uint8_t *mask, *done;
    int32_t *action, *game;
} Buffer;

static void buffer_alloc(Buffer *b, size_t cap, const GameInfo *gi) {
    memset(b, 0, sizeof *b);
    b->obs = xcalloc(cap * (size_t)gi->obs_size, sizeof(float));
    b->mask = xcalloc(cap * (size_t)gi->n_actions, 1);
    b->action = xcalloc(cap, sizeof(int32_t));
    b->game = xcalloc(cap, sizeof(int32_t));
    b->logp_old = xcalloc(cap, sizeof(float));
    b->value = xcalloc(cap, sizeof(float));
    b->reward = xcalloc(cap, sizeof(float));
    b->done = xcalloc(cap, 1);
    b->adv = xcalloc(cap, sizeof(float));
    b->ret = xcalloc(cap, sizeof(float));
    b->adv_norm = xcalloc(cap, sizeof(float));
}

static void buffer_free(Buffer *b) {
    free(b->obs); free(b->mask); free(b->action); free(b->game); free(b->logp_old); free(b->value);
    free(b->reward); free(b->done); free(b->adv); free(b->ret); free(b->adv_norm);
    memset(b, 0, sizeof *b);
}

static void buffer_fill(Buffer *b, const Rollout *ro, const GameInfo *gi) {
    const int O = gi->obs_size, A = gi->n_actions;
    size_t k = 0;
    for (int g = 0; g < ro->G; g++)
        for (int t = 0; t < ro->count[g]; t++, k++) {
            size_t slot = (size_t)g * ro->Tm + (size_t)t;
            memcpy(b->obs + k * O, ro->s_obs + slot * O, (size_t)O * sizeof(float));
            memcpy(b->mask + k * A, ro->s_mask + slot * A, (size_t)A);
            b->action[k] = ro->s_action[slot];
            b->game[k] = g;
            b->logp_old[k] = ro->s_logp[slot];
            b->value[k] = ro->s_value[slot];
            b->reward[k] = ro->s_reward[slot];
            b->done[k] = t == ro->count[g] - 1;
        }
    b->N = k;
}

/* 1 - Var(R - V) / Var(R), population variances in float64; NaN when Var(R) = 0. */
static double explained_variance(const float *value, const float *ret, size_t N) {
    if (N == 0) return NAN;
    double sr = 0.0, sd = 0.0;
    for (size_t k = 0; k < N; k++) {
        sr += (double)ret[k];
        sd += (double)ret[k] - (double)value[k];
    }
    double mr = sr / (double)N, md = sd / (double)N, vr = 0.0, vd = 0.0;
    for (size_t k = 0; k < N; k++) {
        double a = (double)ret[k] - mr, d = ((double)ret[k] - (double)value[k]) - md;
        vr += a * a;
        vd += d * d;
    }
    if (vr == 0.0) return NAN;
    return 1.0 - (vd / (double)N) / (vr / (double)N);
}

/* A copy of bytes bytes. */
static void *keep(const void *src, size_t bytes) {
    void *p = xcalloc(bytes ? bytes : 1, 1);
    memcpy(p, src, bytes);
    return p;
}

static double *dalloc(int64_t n) { return xcalloc((size_t)n, sizeof(double)); }

void train_run(const TrainCfg *cfg, const GameInfo *gi, const NetLayout *lay, float *params, TrainOut *out) {
    const int G = (int)cfg->games_per_iter, O = gi->obs_size, A = gi->n_actions;
    const size_t P = lay->total, cap = (size_t)G * (size_t)gi->max_moves;
    const int64_t n_iter = cfg->n_iterations;
    const int mb_max = (int)((size_t)cfg->batch_size < cap ? (size_t)cfg->batch_size : cap);
    memset(out, 0, sizeof *out);
    out->policy_loss = dalloc(n_iter); out->value_loss = dalloc(n_iter); out->entropy = dalloc(n_iter);
    out->approx_kl = dalloc(n_iter); out->clip_frac = dalloc(n_iter); out->grad_norm = dalloc(n_iter);
    out->explained_var = dalloc(n_iter); out->lr = dalloc(n_iter); out->ent_coef = dalloc(n_iter);
    out->n_transitions = dalloc(n_iter);
    out->learner_win = dalloc(n_iter); out->learner_draw = dalloc(n_iter); out->learner_loss = dalloc(n_iter);
    out->t_rollout = dalloc(n_iter); out->t_gae = dalloc(n_iter); out->t_update = dalloc(n_iter);
    out->t_iter = dalloc(n_iter);
    out->adam_m = xcalloc(P, sizeof(float));
    out->adam_v = xcalloc(P, sizeof(float));
    out->adam_t = 0;

    /* Pool: [initial parameters]; at most pool_size entries, plus one while an append is pending. */
    int pool_len = 1;
    float **pool = xcalloc((size_t)cfg->pool_size + 1, sizeof(float *));
    for (int64_t j = 0; j <= cfg->pool_size; j++) pool[j] = xcalloc(P, sizeof(float));
    memcpy(pool[0], params, P * sizeof(float));

    Workspace ws;
    ws_alloc(&ws, lay, G > mb_max ? G : mb_max);
    PolicyBuf pb;
    pb_alloc(&pb, mb_max, A);
    Rollout ro;
    rollout_alloc(&ro, gi, G);
    Buffer buf;
    buffer_alloc(&buf, cap, gi);
    int64_t *perm = xcalloc(cap, sizeof(int64_t));
    float *grad = xcalloc(P, sizeof(float));
    float *mb_obs = xcalloc((size_t)mb_max * O, sizeof(float));
    uint8_t *mb_mask = xcalloc((size_t)mb_max * A, 1);
    int32_t *mb_action = xcalloc((size_t)mb_max, sizeof(int32_t));
    float *mb_logp = xcalloc((size_t)mb_max, sizeof(float));
    float *mb_adv = xcalloc((size_t)mb_max, sizeof(float));
    float *mb_ret = xcalloc((size_t)mb_max, sizeof(float));

    for (int64_t it = 0; it < n_iter; it++) {
        double t0 = now();
        rollout_run(cfg, gi, lay, params, pool, pool_len, it, &ws, &ro);
        buffer_fill(&buf, &ro, gi);
        double t1 = now();
        const size_t N = buf.N;
        gae(buf.reward, buf.value, buf.done, N, cfg->gamma, cfg->lam, buf.adv, buf.ret);
        normalize_advantages(buf.adv, N, buf.adv_norm);
        double t2 = now();

        /* Learning rate and entropy coefficient of this iteration, one rule (SPEC section 6). */
        double lr = lr_at((int)cfg->lr_schedule, cfg->lr, cfg->lr_min, cfg->iterations, it);
        double ent_coef = lr_at((int)cfg->ent_schedule, cfg->ent_coef, cfg->ent_coef_min, cfg->iterations, it);
        const LossCfg lc = {cfg->clip_eps, cfg->vf_coef, ent_coef};
        double w_sum = 0.0, s_pol = 0.0, s_val = 0.0, s_ent = 0.0, s_kl = 0.0, s_clip = 0.0, s_norm = 0.0;
        const size_t k_mb = (N + (size_t)cfg->batch_size - 1) / (size_t)cfg->batch_size;
        /* The update runs with subnormals flushed to zero (FTZ and DAZ), as numbaplay/nn/fpenv.py. */
        const unsigned fp_saved = fp_flush_enter();
        for (int64_t e = 0; e < cfg->epochs; e++) {
            rng_permutation(perm, (int64_t)N, rng_key(cfg->seed, RNG_SHUFFLE, (uint64_t)it, (uint64_t)e));
            size_t start = 0;
            for (size_t b = 0; b < k_mb; b++) {
                /* Sizes differ by at most one, larger first. */
                int n = (int)(N / k_mb + (b < N % k_mb ? 1 : 0));
                for (int i = 0; i < n; i++) {
                    size_t row = (size_t)perm[start + (size_t)i];
                    memcpy(mb_obs + (size_t)i * O, buf.obs + row * O, (size_t)O * sizeof(float));
                    memcpy(mb_mask + (size_t)i * A, buf.mask + row * A, (size_t)A);
                    mb_action[i] = buf.action[row];
                    mb_logp[i] = buf.logp_old[row];
                    mb_adv[i] = buf.adv_norm[row];
                    mb_ret[i] = buf.ret[row];
                }
                start += (size_t)n;
                LossStats st;
                ppo_loss_grad(lay, params, &ws, &pb, n, mb_obs, mb_mask, mb_action, mb_logp, mb_adv, mb_ret, &lc,
                              grad, &st);
                double norm = update_grad_norm(lay, grad, cfg->batch_size);
                clip_grad(grad, P, norm, cfg->max_grad_norm);
                adam_step(params, out->adam_m, out->adam_v, grad, P, &out->adam_t, lr);
                w_sum += n;
                s_pol += n * st.policy;
                s_val += n * st.value;
                s_ent += n * st.entropy;
                s_kl += n * st.approx_kl;
                s_clip += n * st.clip_frac;
                s_norm += n * norm;
            }
        }
        fp_flush_exit(fp_saved);
        /* Pool update after the step (SPEC section 5). */
        if ((it + 1) % cfg->snapshot_interval == 0) {
            memcpy(pool[pool_len], params, P * sizeof(float));
            pool_len += 1;
            if (pool_len > cfg->pool_size) {
                float *removed = pool[1];
                for (int j = 1; j + 1 < pool_len; j++) pool[j] = pool[j + 1];
                pool[pool_len - 1] = removed;
                pool_len -= 1;
            }
        }
        double t3 = now();

        int wins = 0, draws = 0, losses = 0;
        for (int g = 0; g < G; g++) {
            int64_t s = ro.state[4 * (size_t)g + 3];
            if (s == ST_DRAW) draws++;
            else if (s == (g & 1) + 1) wins++;
            else losses++;
        }
        out->policy_loss[it] = s_pol / w_sum;
        out->value_loss[it] = s_val / w_sum;
        out->entropy[it] = s_ent / w_sum;
        out->approx_kl[it] = s_kl / w_sum;
        out->clip_frac[it] = s_clip / w_sum;
        out->grad_norm[it] = s_norm / w_sum;
        out->explained_var[it] = explained_variance(buf.value, buf.ret, N);
        out->lr[it] = lr;
        out->ent_coef[it] = ent_coef;
        out->n_transitions[it] = (double)N;
        out->learner_win[it] = (double)wins / G;
        out->learner_draw[it] = (double)draws / G;
        out->learner_loss[it] = (double)losses / G;
        out->t_rollout[it] = t1 - t0;
        out->t_gae[it] = t2 - t1;
        out->t_update[it] = t3 - t2;
        out->t_iter[it] = now() - t0;

        if (it == 0) {
            const int Pl = gi->max_plies;
            out->opponent = xcalloc((size_t)G, sizeof(int32_t));
            out->seat = xcalloc((size_t)G, sizeof(int32_t));
            out->result = xcalloc((size_t)G, sizeof(int32_t));
            out->moves = xcalloc((size_t)G * Pl, sizeof(int32_t));
            for (int g = 0; g < G; g++) {
                out->opponent[g] = ro.opponent[g];
                out->seat[g] = g & 1;
                out->result[g] = (int32_t)ro.state[4 * (size_t)g + 3];
            }
            memcpy(out->moves, ro.moves, (size_t)G * Pl * sizeof(int32_t));
            out->n0 = (int64_t)N;
            out->obs = keep(buf.obs, N * O * sizeof(float));
            out->mask = keep(buf.mask, N * A);
            out->action = keep(buf.action, N * sizeof(int32_t));
            out->game_index = keep(buf.game, N * sizeof(int32_t));
            out->logp_old = keep(buf.logp_old, N * sizeof(float));
            out->value = keep(buf.value, N * sizeof(float));
            out->reward = keep(buf.reward, N * sizeof(float));
            out->done = keep(buf.done, N);
            out->adv = keep(buf.adv, N * sizeof(float));
            out->ret = keep(buf.ret, N * sizeof(float));
            out->adv_norm = keep(buf.adv_norm, N * sizeof(float));
        }
    }
    out->pool_len = pool_len;

    for (int64_t j = 0; j <= cfg->pool_size; j++) free(pool[j]);
    free(pool);
    ws_free(&ws);
    pb_free(&pb);
    rollout_free(&ro);
    buffer_free(&buf);
    free(perm); free(grad); free(mb_obs); free(mb_mask); free(mb_action); free(mb_logp); free(mb_adv); free(mb_ret);
}

void train_out_free(TrainOut *o) {
    double *d[] = {o->policy_loss, o->value_loss, o->entropy, o->approx_kl, o->clip_frac, o->grad_norm,
                   o->explained_var, o->lr, o->ent_coef, o->n_transitions, o->learner_win, o->learner_draw, o->learner_loss,
                   o->t_rollout, o->t_gae, o->t_update, o->t_iter};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(d[i]);
    free(o->opponent); free(o->seat); free(o->moves); free(o->result);
    free(o->obs); free(o->logp_old); free(o->value); free(o->reward); free(o->adv); free(o->ret); free(o->adv_norm);
    free(o->mask); free(o->done); free(o->action); free(o->game_index);
    free(o->adam_m); free(o->adam_v);
    memset(o, 0, sizeof *o);
}
