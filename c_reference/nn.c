/* Networks: layout and init, batched forward and backward through cblas_sgemm, masked softmax,
 * sampling, gradient clipping and Adam. Everything is float32 except the reductions the spec puts in
 * float64 (LayerNorm statistics, bias and LayerNorm parameter gradients, norms, bias corrections).
 *
 * Row-major throughout: activations are [n, width]; a weight W is [out, in], so a layer is
 * Y = X W^T (CblasTrans on W), its input gradient dX = dY W and its weight gradient dW = dY^T X. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_compat.h"
#include "io.h"
#include "rng.h"

#define LN_EPS 1e-5
static const double PI = 3.14159265358979323846;

/* ---- layout and init --------------------------------------------------------------------------- */

static void add_tensor(NetLayout *lay, const char *name, int64_t rows, int64_t cols, size_t *slot) {
    int i = lay->n_tensors++;
    snprintf(lay->name[i], sizeof lay->name[i], "%s", name);
    lay->ndim[i] = cols > 0 ? 2 : 1;
    lay->shape[i][0] = rows;
    lay->shape[i][1] = cols > 0 ? cols : 0;
    lay->off[i] = lay->total;
    lay->size[i] = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
    if (slot) *slot = lay->off[i];
    lay->total += lay->size[i];
}

int nn_layout(NetLayout *lay, const int64_t spec[5], char *err, size_t errlen) {
    memset(lay, 0, sizeof *lay);
    if (spec[0] != ARCH_MLP && spec[0] != ARCH_RESMLP) {
        snprintf(err, errlen, "unknown architecture id %lld (0 mlp, 1 resmlp)", (long long)spec[0]);
        return -1;
    }
    if (spec[1] < 1 || spec[1] > 4096 || spec[2] < 1 || spec[2] > NN_MAX_WIDTH || spec[3] < 1 ||
        spec[3] > NN_MAX_DEPTH || spec[4] < 1 || spec[4] > NN_MAX_ACTIONS) {
        snprintf(err, errlen, "net spec (%lld, %lld, %lld, %lld, %lld) out of range (H 1..%d, L 1..%d)",
                 (long long)spec[0], (long long)spec[1], (long long)spec[2], (long long)spec[3],
                 (long long)spec[4], NN_MAX_WIDTH, NN_MAX_DEPTH);
        return -1;
    }
    lay->arch = (int)spec[0];
    lay->obs_size = (int)spec[1];
    lay->H = (int)spec[2];
    lay->L = (int)spec[3];
    lay->A = (int)spec[4];
    int H = lay->H, L = lay->L;
    char name[24];
    if (lay->arch == ARCH_MLP) {
        for (int k = 0; k < L; k++) {
            snprintf(name, sizeof name, "fc%d.W", k);
            add_tensor(lay, name, H, k == 0 ? lay->obs_size : H, &lay->W[k]);
            snprintf(name, sizeof name, "fc%d.b", k);
            add_tensor(lay, name, H, 0, &lay->b[k]);
        }
    } else {
        add_tensor(lay, "in.W", H, lay->obs_size, &lay->W[0]);
        add_tensor(lay, "in.b", H, 0, &lay->b[0]);
        for (int k = 1; k < L; k++) {
            snprintf(name, sizeof name, "blk%d.ln.g", k);
            add_tensor(lay, name, H, 0, &lay->lng[k]);
            snprintf(name, sizeof name, "blk%d.ln.b", k);
            add_tensor(lay, name, H, 0, &lay->lnb[k]);
            snprintf(name, sizeof name, "blk%d.W", k);
            add_tensor(lay, name, H, H, &lay->W[k]);
            snprintf(name, sizeof name, "blk%d.b", k);
            add_tensor(lay, name, H, 0, &lay->b[k]);
        }
        add_tensor(lay, "out_ln.g", H, 0, &lay->out_g);
        add_tensor(lay, "out_ln.b", H, 0, &lay->out_b);
    }
    add_tensor(lay, "pi.W", lay->A, H, &lay->pi_W);
    add_tensor(lay, "pi.b", lay->A, 0, &lay->pi_b);
    add_tensor(lay, "v.W", 1, H, &lay->v_W);
    add_tensor(lay, "v.b", 1, 0, &lay->v_b);
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void nn_init(const NetLayout *lay, uint64_t seed, float *params) {
    uint64_t key = rng_key(seed, RNG_INIT, 0, 0);
    int64_t fan_in = lay->obs_size;
    for (int t = 0; t < lay->n_tensors; t++) {
        const char *nm = lay->name[t];
        if (ends_with(nm, ".W")) fan_in = lay->shape[t][1];  /* a hidden b shares its W's fan-in */
        int is_ln = strstr(nm, ".ln.") != NULL || strncmp(nm, "out_ln", 6) == 0;
        int zero_head = strcmp(nm, "pi.b") == 0 || strcmp(nm, "v.b") == 0;
        double bound = 1.0 / sqrt((double)fan_in);
        for (size_t j = 0; j < lay->size[t]; j++) {
            size_t i = lay->off[t] + j;
            if (is_ln) {
                params[i] = ends_with(nm, ".g") ? 1.0f : 0.0f;
            } else if (zero_head) {
                params[i] = 0.0f;
            } else {
                double u = rng_uniform(key, i);
                params[i] = (float)((2.0 * u - 1.0) * bound);
                /* pi.W: drawn like any W, then scaled in float32 (as numbaplay/nn/params.py). */
                if (strcmp(nm, "pi.W") == 0) params[i] = params[i] * 0.01f;
            }
        }
    }
}

/* ---- workspace ---------------------------------------------------------------------------------- */

void ws_alloc(Workspace *ws, const NetLayout *lay, int n_max) {
    memset(ws, 0, sizeof *ws);
    if (n_max < 1) n_max = 1;
    ws->n_max = n_max;
    size_t nh = (size_t)n_max * (size_t)lay->H, L = (size_t)lay->L;
    ws->act = xcalloc(L * nh, sizeof(float));
    if (lay->arch == ARCH_RESMLP) {
        ws->xhat = xcalloc(L * nh, sizeof(float));
        ws->rstd = xcalloc(L * (size_t)n_max, sizeof(float));
        ws->lny = xcalloc(L * nh, sizeof(float));
        ws->z = xcalloc(L * nh, sizeof(float));
        ws->feat = xcalloc(nh, sizeof(float));
    }
    ws->u = xcalloc((size_t)n_max, sizeof(float));
    ws->dh = xcalloc(nh, sizeof(float));
    ws->dh2 = xcalloc(nh, sizeof(float));
    ws->dz = xcalloc(nh, sizeof(float));
    size_t w = (size_t)lay->H;
    if ((size_t)lay->A > w) w = (size_t)lay->A;
    if ((size_t)lay->obs_size > w) w = (size_t)lay->obs_size;
    ws->acc = xcalloc(w, sizeof(double));
}

void ws_free(Workspace *ws) {
    free(ws->act);
    free(ws->xhat);
    free(ws->rstd);
    free(ws->lny);
    free(ws->z);
    free(ws->feat);
    free(ws->u);
    free(ws->dh);
    free(ws->dh2);
    free(ws->dz);
    free(ws->acc);
    memset(ws, 0, sizeof *ws);
}

/* ---- GEMM shorthands (row-major, alpha 1) ----------------------------------------------------- */

/* C[M,N] = A[M,K] B[N,K]^T + beta C */
static void mm_nt(int M, int N, int K, const float *A, const float *B, float beta, float *C) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, beta, C, N);
}

/* C[M,N] = A[M,K] B[K,N] + beta C */
static void mm_nn(int M, int N, int K, const float *A, const float *B, float beta, float *C) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, beta, C, N);
}

/* C[M,N] = A[K,M]^T B[K,N] + beta C */
static void mm_tn(int M, int N, int K, const float *A, const float *B, float beta, float *C) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, M, B, N, beta, C, N);
}

/* out[j] = float32(sum_i X[i, j]) with the sum in float64 in row order. */
static void colsum(const float *X, int n, int m, double *acc, float *out) {
    for (int j = 0; j < m; j++) acc[j] = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) acc[j] += (double)X[(size_t)i * m + j];
    for (int j = 0; j < m; j++) out[j] = (float)acc[j];
}

/* ---- elementwise pieces ------------------------------------------------------------------------ */

/* k = 2 sqrt(2/pi) in float64, rounded once to float32. */
static float gelu_k(void) { return (float)(2.0 * sqrt(2.0 / PI)); }

/* exp in float32 as numbaplay/nn/mathf.py `exp32` (Cephes expf, inputs clamped to [-87, 87]), with the
 * same fused multiply-adds (fmaf, rounded once, as the kernels' fma32), so both implementations round
 * GELU the same way; under 1 ulp from the true exp. */
static float exp32(float x) {
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    float n = floorf(fmaf(x, 1.44269504088896341f, 0.5f));
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* sigmoid(k (x + 0.044715 x^3)), the inner term as k fma(0.044715 x x, x, x); the clamped exp never
 * overflows. gelu(x) = x times it (added to the stream with one fmaf). */
static float gelu_sigmoid(float x, float k) {
    float inner = fmaf(0.044715f * x * x, x, x);
    return 1.0f / (1.0f + exp32(-(k * inner)));
}

static float gelu_grad(float x, float k) {
    float s = gelu_sigmoid(x, k);
    return fmaf(x * s * (1.0f - s) * k, fmaf(0.134145f * x, x, 1.0f), s);
}

/* LayerNorm of n rows of width H: mean and variance (second pass) in float64, then mu and
 * 1/sqrt(var + 1e-5) rounded to float32; xhat = (x - mu) rstd and y = g xhat + b in float32. */
static void layernorm(const float *x, int n, int H, const float *g, const float *b, float *xhat, float *rstd,
                      float *y) {
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * H;
        double s = 0.0, q = 0.0;
        for (int j = 0; j < H; j++) s += (double)xr[j];
        double mu = s / H;
        for (int j = 0; j < H; j++) {
            double d = (double)xr[j] - mu;
            q += d * d;
        }
        float muf = (float)mu, r = (float)(1.0 / sqrt(q / H + LN_EPS));
        rstd[i] = r;
        for (int j = 0; j < H; j++) {
            float xh = (xr[j] - muf) * r;
            xhat[(size_t)i * H + j] = xh;
            y[(size_t)i * H + j] = g[j] * xh + b[j];
        }
    }
}

/* LayerNorm backward: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy g, means in
 * float64; dg = sum_rows dy xhat, db = sum_rows dy (float64 in row order). dx is written (beta 0) or
 * added (accumulate 1). */
static void layernorm_backward(const float *dy, const float *xhat, const float *rstd, const float *g, int n,
                               int H, float *dx, int accumulate, double *acc, float *dg, float *db) {
    for (int i = 0; i < n; i++) {
        const float *dyr = dy + (size_t)i * H, *xr = xhat + (size_t)i * H;
        double m1 = 0.0, m2 = 0.0;
        for (int j = 0; j < H; j++) {
            float dxh = dyr[j] * g[j];
            m1 += (double)dxh;
            m2 += (double)dxh * (double)xr[j];
        }
        m1 /= H;
        m2 /= H;
        for (int j = 0; j < H; j++) {
            float dxh = dyr[j] * g[j];
            float v = (float)((double)rstd[i] * ((double)dxh - m1 - (double)xr[j] * m2));
            if (accumulate) dx[(size_t)i * H + j] += v;
            else dx[(size_t)i * H + j] = v;
        }
    }
    for (int j = 0; j < H; j++) acc[j] = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < H; j++) acc[j] += (double)dy[(size_t)i * H + j] * (double)xhat[(size_t)i * H + j];
    for (int j = 0; j < H; j++) dg[j] = (float)acc[j];
    colsum(dy, n, H, acc, db);
}

/* ---- forward ------------------------------------------------------------------------------------ */

void nn_forward(const NetLayout *lay, const float *params, const float *obs, int n, Workspace *ws,
                float *logits, float *value) {
    const int H = lay->H, L = lay->L, A = lay->A;
    const size_t nh = (size_t)ws->n_max * H;
    if (n <= 0) return;
    if (lay->arch == ARCH_MLP) {
        const float *in = obs;
        int in_dim = lay->obs_size;
        for (int k = 0; k < L; k++) {
            float *out = ws->act + k * nh;
            const float *b = params + lay->b[k];
            mm_nt(n, H, in_dim, in, params + lay->W[k], 0.0f, out);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < H; j++) {
                    float v = out[(size_t)i * H + j] + b[j];
                    out[(size_t)i * H + j] = v > 0.0f ? v : 0.0f;
                }
            in = out;
            in_dim = H;
        }
        ws->features = in;
    } else {
        const float k_gelu = gelu_k();
        float *h = ws->act;
        mm_nt(n, H, lay->obs_size, obs, params + lay->W[0], 0.0f, h);
        const float *b0 = params + lay->b[0];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < H; j++) h[(size_t)i * H + j] += b0[j];
        for (int k = 1; k < L; k++) {
            const float *prev = ws->act + (k - 1) * nh;
            float *cur = ws->act + k * nh, *y = ws->lny + k * nh, *z = ws->z + k * nh;
            layernorm(prev, n, H, params + lay->lng[k], params + lay->lnb[k], ws->xhat + k * nh,
                      ws->rstd + (size_t)k * ws->n_max, y);
            mm_nt(n, H, H, y, params + lay->W[k], 0.0f, z);
            const float *b = params + lay->b[k];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < H; j++) {
                    size_t o = (size_t)i * H + j;
                    z[o] += b[j];
                    cur[o] = fmaf(z[o], gelu_sigmoid(z[o], k_gelu), prev[o]);
                }
        }
        layernorm(ws->act + (L - 1) * nh, n, H, params + lay->out_g, params + lay->out_b, ws->xhat, ws->rstd,
                  ws->feat);
        ws->features = ws->feat;
    }
    const float *f = ws->features;
    mm_nt(n, A, H, f, params + lay->pi_W, 0.0f, logits);
    const float *pb = params + lay->pi_b;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < A; a++) logits[(size_t)i * A + a] += pb[a];
    mm_nt(n, 1, H, f, params + lay->v_W, 0.0f, ws->u);
    const float vb = params[lay->v_b];
    for (int i = 0; i < n; i++) {
        ws->u[i] += vb;
        value[i] = tanhf(ws->u[i]);
    }
}

/* ---- backward ----------------------------------------------------------------------------------- */

void nn_backward(const NetLayout *lay, const float *params, const float *obs, int n, Workspace *ws,
                 const float *dlogits, const float *du, float *grad) {
    const int H = lay->H, L = lay->L, A = lay->A;
    const size_t nh = (size_t)ws->n_max * H;
    memset(grad, 0, lay->total * sizeof(float));
    if (n <= 0) return;
    const float *f = ws->features;
    /* Heads. */
    mm_tn(A, H, n, dlogits, f, 0.0f, grad + lay->pi_W);
    colsum(dlogits, n, A, ws->acc, grad + lay->pi_b);
    mm_tn(1, H, n, du, f, 0.0f, grad + lay->v_W);
    colsum(du, n, 1, ws->acc, grad + lay->v_b);
    float *dh = ws->dh;  /* gradient with respect to the final features */
    mm_nn(n, H, A, dlogits, params + lay->pi_W, 0.0f, dh);
    mm_nn(n, H, 1, du, params + lay->v_W, 1.0f, dh);

    if (lay->arch == ARCH_MLP) {
        float *dz = dh, *next = ws->dh2;
        for (int k = L - 1; k >= 0; k--) {
            const float *out = ws->act + k * nh;
            const float *in = k == 0 ? obs : ws->act + (k - 1) * nh;
            int in_dim = k == 0 ? lay->obs_size : H;
            for (size_t o = 0; o < (size_t)n * H; o++)
                if (!(out[o] > 0.0f)) dz[o] = 0.0f;  /* ReLU passes the gradient where its output > 0 */
            mm_tn(H, in_dim, n, dz, in, 0.0f, grad + lay->W[k]);
            colsum(dz, n, H, ws->acc, grad + lay->b[k]);
            if (k > 0) {
                mm_nn(n, H, H, dz, params + lay->W[k], 0.0f, next);
                float *tmp = dz;
                dz = next;
                next = tmp;
            }
        }
        return;
    }

    const float k_gelu = gelu_k();
    /* dres: gradient with respect to the residual stream h_k, from the top down. */
    float *dres = ws->dh2, *dz = ws->dz, *dy = dh;
    layernorm_backward(dh, ws->xhat, ws->rstd, params + lay->out_g, n, H, dres, 0, ws->acc, grad + lay->out_g,
                       grad + lay->out_b);
    for (int k = L - 1; k >= 1; k--) {
        const float *z = ws->z + k * nh;
        for (size_t o = 0; o < (size_t)n * H; o++) dz[o] = dres[o] * gelu_grad(z[o], k_gelu);
        mm_tn(H, H, n, dz, ws->lny + k * nh, 0.0f, grad + lay->W[k]);
        colsum(dz, n, H, ws->acc, grad + lay->b[k]);
        mm_nn(n, H, H, dz, params + lay->W[k], 0.0f, dy);
        /* h_{k-1} feeds both the skip path (dres) and LN_k (dy through the LayerNorm). */
        layernorm_backward(dy, ws->xhat + k * nh, ws->rstd + (size_t)k * ws->n_max, params + lay->lng[k], n, H,
                           dres, 1, ws->acc, grad + lay->lng[k], grad + lay->lnb[k]);
    }
    mm_tn(H, lay->obs_size, n, dres, obs, 0.0f, grad + lay->W[0]);
    colsum(dres, n, H, ws->acc, grad + lay->b[0]);
}

/* ---- policy ------------------------------------------------------------------------------------- */

float masked_log_softmax(const float *logits, const uint8_t *mask, int A, float *logp, float *p) {
    float m = 0.0f;
    int any = 0;
    for (int a = 0; a < A; a++)
        if (mask[a] && (!any || logits[a] > m)) {
            m = logits[a];
            any = 1;
        }
    float s = 0.0f;
    for (int a = 0; a < A; a++)
        if (mask[a]) s += expf(logits[a] - m);
    float z = logf(s), ent = z;
    for (int a = 0; a < A; a++) {
        if (mask[a]) {
            logp[a] = (logits[a] - m) - z;
            p[a] = expf(logp[a]);
            ent -= p[a] * (logits[a] - m);  /* H = z - sum_legal p_a (l_a - m), in index order */
        } else {
            logp[a] = 0.0f;
            p[a] = 0.0f;
        }
    }
    return ent;
}

int sample_action(const float *logits, const uint8_t *mask, int A, double tau, double u) {
    int last = -1;
    if (tau <= 0.0) {
        for (int a = 0; a < A; a++)
            if (mask[a] && (last < 0 || logits[a] > logits[last])) last = a;
        return last;
    }
    /* x_a = l_a / tau as one float32 division (tau rounded to float32 once; tau = 1 leaves l as is). */
    const float tau32 = (float)tau;
    float x[NN_MAX_ACTIONS], e[NN_MAX_ACTIONS];
    float m = 0.0f;
    for (int a = 0; a < A; a++)
        if (mask[a]) {
            x[a] = logits[a] / tau32;
            if (last < 0 || x[a] > m) m = x[a];
            last = a;
        }
    double S = 0.0;
    for (int a = 0; a < A; a++)
        if (mask[a]) {
            e[a] = expf(x[a] - m);
            S += (double)e[a];
        }
    double target = u * S, C = 0.0;
    for (int a = 0; a < A; a++)
        if (mask[a]) {
            C += (double)e[a];
            if (target < C) return a;
        }
    return last;
}

/* ---- optimiser ---------------------------------------------------------------------------------- */

/* Sum of squares of g[lo, hi): entry i adds to accumulator (i - lo) mod 8, the accumulators added 0..7. */
static double piece_sumsq(const float *g, size_t lo, size_t hi) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = lo; i < hi; i++) acc[(i - lo) & 7] += (double)g[i] * (double)g[i];
    double c = acc[0];
    for (int j = 1; j < 8; j++) c += acc[j];
    return c;
}

/* The order of numbaplay/nn/adam.py: chunks of 4096 entries in index order; within a chunk, entry i adds
 * its square to accumulator (i - chunk start) mod 8, and the accumulators are added 0..7; the chunk sums
 * are added in chunk order. All in float64. */
#define NORM_CHUNK 4096
double grad_norm(const float *g, size_t n) {
    double total = 0.0;
    for (size_t lo = 0; lo < n; lo += NORM_CHUNK)
        total += piece_sumsq(g, lo, lo + NORM_CHUNK < n ? lo + NORM_CHUNK : n);
    return sqrt(total);
}

/* Whether the update takes the unit-half step (numbaplay/ppo/update.py unit_halves): mlp, and
 * batch_size * H * L at most twice the parameter count. */
int update_unit_halves(const NetLayout *lay, int64_t batch_size) {
    return lay->arch == ARCH_MLP && (double)batch_size * lay->H * lay->L <= 2.0 * (double)lay->total;
}

/* The update's norm (numbaplay/ppo/update.py). Row-shard step: grad_norm. Unit-half step: the units of
 * every layer are cut in two parts, [0, ceil(H/2)) and the rest (numbaplay/nn/rows.py unit_cuts); a part's
 * pieces are, per layer, its weight rows and then its bias entries, and part 0 ends with the heads (pi.W,
 * pi.b, v.W, v.b as one range); each piece's sum of squares (piece_sumsq) is added in that order, then
 * part 0's total and part 1's are added. */
double update_grad_norm(const NetLayout *lay, const float *g, int64_t batch_size) {
    if (!update_unit_halves(lay, batch_size)) return grad_norm(g, lay->total);
    const int cut[3] = {0, (lay->H + 1) / 2, lay->H};
    double total = 0.0;
    for (int part = 0; part < 2; part++) {
        double ss = 0.0;
        for (int k = 0; k < lay->L; k++) {
            size_t fan_in = (size_t)(k == 0 ? lay->obs_size : lay->H);
            ss += piece_sumsq(g, lay->W[k] + (size_t)cut[part] * fan_in, lay->W[k] + (size_t)cut[part + 1] * fan_in);
            ss += piece_sumsq(g, lay->b[k] + (size_t)cut[part], lay->b[k] + (size_t)cut[part + 1]);
        }
        if (part == 0) ss += piece_sumsq(g, lay->pi_W, lay->v_b + 1);
        total += ss;
    }
    return sqrt(total);
}

void clip_grad(float *g, size_t n, double norm, double max_norm) {
    if (!(max_norm > 0.0) || !(norm > max_norm)) return;
    float scale = (float)(max_norm / (norm + 1e-6));
    for (size_t i = 0; i < n; i++) g[i] = g[i] * scale;
}

void adam_step(float *params, float *m, float *v, const float *g, size_t n, int64_t *t, double lr) {
    *t += 1;
    double bc1 = 1.0 - pow(0.9, (double)*t), bc2 = 1.0 - pow(0.999, (double)*t);
    float a = (float)(lr / bc1), s = (float)sqrt(bc2);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = 0.9f * m[i] + 0.1f * gi;
        float vi = 0.999f * v[i] + 0.001f * gi * gi;  /* (0.001 g) g, left to right */
        /* Subnormal moments are flushed to 0 (docs/ALGORITHM.md, "Optimiser"). */
        m[i] = fabsf(mi) < FLT_MIN ? 0.0f : mi;
        v[i] = vi < FLT_MIN ? 0.0f : vi;
        params[i] = params[i] - a * m[i] / (sqrtf(v[i]) / s + 1e-8f);
    }
}
