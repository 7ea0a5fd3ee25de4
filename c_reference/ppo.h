/* PPO self-play (SPEC sections 5 and 6): minibatch loss and gradient, GAE, advantage normalisation,
 * the rollout with an opponent pool, and the training loop. */
#ifndef NBP_PPO_H
#define NBP_PPO_H

#include <stddef.h>
#include <stdint.h>

#include "games.h"
#include "nn.h"

typedef struct {
    double clip_eps, vf_coef, ent_coef;
} LossCfg;

/* Minibatch means, accumulated in float64 in row order. */
typedef struct {
    double policy, value, entropy, total, approx_kl, clip_frac;
} LossStats;

/* Per-row results of the last ppo_loss_grad call, sized for n_max rows. */
typedef struct {
    int n_max, A;
    float *logits;    /* [n, A] */
    float *value;     /* [n] tanh value */
    float *logp_all;  /* [n, A] masked log-probabilities (0 on illegal entries) */
    float *probs;     /* [n, A] masked probabilities (exactly 0 on illegal entries) */
    float *entropy;   /* [n] */
    float *logp;      /* [n] log-probability of the taken action */
    float *dlogits;   /* [n, A] */
    float *du;        /* [n] gradient with respect to the value pre-activation */
} PolicyBuf;

void pb_alloc(PolicyBuf *pb, int n_max, int A);
void pb_free(PolicyBuf *pb);

/* Forward, loss and full flat gradient (before clipping) of one minibatch of n rows.
 * obs: float32[n, obs_size]; mask: uint8[n, A]; action: int32[n]; logp_old, adv, ret: float32[n];
 * grad: float32[P] (overwritten). Every mask row needs a legal entry and every action must be legal. */
void ppo_loss_grad(const NetLayout *lay, const float *params, Workspace *ws, PolicyBuf *pb, int n,
                   const float *obs, const uint8_t *mask, const int32_t *action, const float *logp_old,
                   const float *adv, const float *ret, const LossCfg *cfg, float *grad, LossStats *st);

/* GAE per game over a buffer ordered by game then ply (docs/ALGORITHM.md); done[T-1] must be 1.
 * reward, value: float32[T]; done: uint8[T]; adv, ret: float32[T]. */
void gae(const float *reward, const float *value, const uint8_t *done, size_t T, double gamma, double lam,
         float *adv, float *ret);
/* (A - mean) / (std + 1e-8) with float64 mean and population std; a single transition gets 0. */
void normalize_advantages(const float *adv, size_t T, float *out);
/* Value at iteration i of a constant (schedule 0) or cosine (1) schedule over `iterations` from `lr` down
 * to `lr_min` (SPEC section 6); used for the learning rate and for the entropy coefficient. */
double lr_at(int schedule, double lr, double lr_min, int64_t iterations, int64_t i);

typedef struct {
    int game;
    double gamma, lam, clip_eps, vf_coef, ent_coef, ent_coef_min, max_grad_norm, lr, lr_min, opp_temperature,
        draw_reward;
    int64_t epochs, games_per_iter, batch_size, lr_schedule, ent_schedule, iterations, pool_size,
        snapshot_interval, random_opening_plies, n_iterations;
    uint64_t seed;
} TrainCfg;

typedef struct {
    /* Per iteration [n_iterations]: logged statistics (SPEC section 6) and phase wall times (s). */
    double *policy_loss, *value_loss, *entropy, *approx_kl, *clip_frac, *grad_norm, *explained_var, *lr, *ent_coef;
    double *n_transitions, *learner_win, *learner_draw, *learner_loss;
    double *t_rollout, *t_gae, *t_update, *t_iter;
    /* Iteration 0's games [G] and [G, max_plies] (moves padded with -1). */
    int32_t *opponent, *seat, *moves, *result;
    /* Iteration 0's transition buffer, n0 rows. */
    int64_t n0;
    float *obs, *logp_old, *value, *reward, *adv, *ret, *adv_norm;
    uint8_t *mask, *done;
    int32_t *action, *game_index;
    /* Optimiser state at the end. */
    float *adam_m, *adam_v;
    int64_t adam_t, pool_len;
} TrainOut;

/* Run cfg->n_iterations self-play iterations from params (float32[P], updated in place). */
void train_run(const TrainCfg *cfg, const GameInfo *gi, const NetLayout *lay, float *params, TrainOut *out);
void train_out_free(TrainOut *out);

#endif
