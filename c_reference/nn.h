/* Policy-value networks on one flat float32 parameter vector (SPEC section 3).
 * spec = (arch, obs_size, H, L, A); arch 0 mlp, 1 resmlp. Every W is out x in, row-major. */
#ifndef NBP_NN_H
#define NBP_NN_H

#include <stddef.h>
#include <stdint.h>

enum { ARCH_MLP = 0, ARCH_RESMLP = 1 };
#define NN_MAX_DEPTH 64
#define NN_MAX_WIDTH 8192
#define NN_MAX_TENSORS (4 * NN_MAX_DEPTH + 8)
#define NN_MAX_ACTIONS 4096

typedef struct {
    int arch, obs_size, H, L, A;
    size_t total;                         /* number of parameters */
    int n_tensors;                        /* the (name, shape, offset) table in flat order */
    char name[NN_MAX_TENSORS][24];
    int ndim[NN_MAX_TENSORS];
    int64_t shape[NN_MAX_TENSORS][2];
    size_t off[NN_MAX_TENSORS], size[NN_MAX_TENSORS];
    /* Direct offsets. W[k], b[k]: mlp layer k; resmlp k = 0 the input layer, k >= 1 block k.
     * lng[k], lnb[k]: resmlp block k's LayerNorm (k >= 1). */
    size_t W[NN_MAX_DEPTH], b[NN_MAX_DEPTH], lng[NN_MAX_DEPTH], lnb[NN_MAX_DEPTH];
    size_t out_g, out_b, pi_W, pi_b, v_W, v_b;
} NetLayout;

/* Build the layout; returns 0, or -1 with a message in err for an invalid spec. */
int nn_layout(NetLayout *lay, const int64_t spec[5], char *err, size_t errlen);
/* SPEC section 3 init: the parameter at offset i takes uniform draw i of stream (INIT, 0, 0). */
void nn_init(const NetLayout *lay, uint64_t seed, float *params);

/* Activations of the last forward pass, kept for the backward pass; sized for n_max rows. */
typedef struct {
    int n_max;
    float *act;     /* [L][n_max*H]: mlp post-ReLU output of layer k; resmlp residual stream h_k */
    float *xhat;    /* resmlp [L][n_max*H]: normalised LN input, block k at k >= 1, out_ln at 0 */
    float *rstd;    /* resmlp [L][n_max]: 1/sqrt(var + 1e-5), same indexing */
    float *lny;     /* resmlp [L][n_max*H]: LN output of block k (the input of its W) */
    float *z;       /* resmlp [L][n_max*H]: block k pre-activation W LN(h) + b */
    float *feat;    /* resmlp [n_max*H]: out_ln output; heads read `features` */
    const float *features; /* the final h of the last forward pass */
    float *u;       /* [n_max]: value pre-activation */
    float *dh, *dh2, *dz;  /* [n_max*H] backward scratch */
    double *acc;    /* [max(H, A, obs)] column-sum accumulators */
} Workspace;

void ws_alloc(Workspace *ws, const NetLayout *lay, int n_max);
void ws_free(Workspace *ws);

/* logits: float32[n, A]; value: float32[n] = tanh(v.W h + v.b); obs: float32[n, obs_size].
 * Keeps activations in ws for nn_backward. n <= ws->n_max. */
void nn_forward(const NetLayout *lay, const float *params, const float *obs, int n, Workspace *ws,
                float *logits, float *value);
/* grad (float32[P], overwritten) of sum_rows(dlogits . logits + du * u) for the last forward pass;
 * dlogits: float32[n, A]; du: float32[n], the gradient with respect to the value pre-activation. */
void nn_backward(const NetLayout *lay, const float *params, const float *obs, int n, Workspace *ws,
                 const float *dlogits, const float *du, float *grad);

/* Masked log-softmax of one row (SPEC section 4), float32 throughout: logp and p get values on legal
 * entries (p exactly 0 and logp 0 on illegal ones); returns the entropy. The mask needs a legal entry. */
float masked_log_softmax(const float *logits, const uint8_t *mask, int A, float *logp, float *p);
/* Sample at temperature tau (docs/ALGORITHM.md) from uniform u; tau == 0 is the legal argmax. */
int sample_action(const float *logits, const uint8_t *mask, int A, double tau, double u);

/* sqrt of the float64 sum of squares in parameter order. */
double grad_norm(const float *g, size_t n);
/* The norm the update clips with: grad_norm for the row-shard step, the unit-part order for the unit-half
 * step (nn.c). */
int update_unit_halves(const NetLayout *lay, int64_t batch_size);
double update_grad_norm(const NetLayout *lay, const float *g, int64_t batch_size);
/* If max_norm > 0 and norm > max_norm, g *= float32(max_norm / (norm + 1e-6)). */
void clip_grad(float *g, size_t n, double norm, double max_norm);
/* t += 1, then one Adam step with learning rate lr (docs/ALGORITHM.md "Optimiser"). */
void adam_step(float *params, float *m, float *v, const float *g, size_t n, int64_t *t, double lr);

#endif
