/* Counter-based random streams (SPEC section 5): draw n of stream (purpose, iteration, index) is a
 * pure function of the seed, so results do not depend on the order in which games are played or on
 * the thread count. All arithmetic is uint64 and wraps. */
#ifndef NBP_RNG_H
#define NBP_RNG_H

#include <stdint.h>

enum { RNG_INIT = 1, RNG_OPPONENT = 2, RNG_LEARNER_ACTION = 3, RNG_OPPONENT_ACTION = 4,
       RNG_SHUFFLE = 5, RNG_EVAL = 6, RNG_CURRICULUM = 7 };

/* SplitMix64 finalizer. */
static inline uint64_t rng_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t rng_key(uint64_t seed, uint64_t purpose, uint64_t iteration, uint64_t index) {
    return rng_mix(rng_mix(rng_mix(rng_mix(seed) ^ purpose) ^ iteration) ^ index);
}

static inline uint64_t rng_draw(uint64_t key, uint64_t n) {
    return rng_mix(key + (n + 1) * 0x9E3779B97F4A7C15ULL);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_uniform(uint64_t key, uint64_t n) {
    return (double)(rng_draw(key, n) >> 11) * (1.0 / 9007199254740992.0);
}

/* Integer in [0, k): min(floor(u k), k - 1). */
static inline int64_t rng_below(uint64_t key, uint64_t n, int64_t k) {
    int64_t v = (int64_t)(rng_uniform(key, n) * (double)k);
    return v < k - 1 ? v : k - 1;
}

/* Fisher-Yates permutation of 0..n-1: i from n-1 down to 1 swaps with below(i + 1) of draw n-1-i. */
static inline void rng_permutation(int64_t *out, int64_t n, uint64_t key) {
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = rng_below(key, (uint64_t)(n - 1 - i), i + 1);
        int64_t tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
}

#endif
