/* Tensor file reader and writer (docs/FILEFORMAT.md). The reader loads the whole file, then walks it
 * with every length checked against the bytes that remain, so a truncated, corrupted or foreign file
 * stops with one line naming the problem and exit code 2, never a read past the end. */
#define _POSIX_C_SOURCE 200809L
#include "io.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char MAGIC[8] = {'N', 'B', 'P', 'L', 'A', 'Y', 0, 1};

void die(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fputs("numbaplay_c: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

void *xcalloc(size_t count, size_t size) {
    if (count == 0 || size == 0) count = size = 1;
    if (count > SIZE_MAX / size) die("allocation of %zu x %zu bytes overflows", count, size);
    void *p = calloc(count, size);
    if (!p) die("out of memory allocating %zu bytes", count * size);
    return p;
}

const char *dtype_name(uint32_t dtype) {
    switch (dtype) {
    case DT_F32: return "f32";
    case DT_F64: return "f64";
    case DT_I32: return "i32";
    case DT_I64: return "i64";
    case DT_U8: return "u8";
    default: return "unknown";
    }
}

size_t dtype_size(uint32_t dtype) {
    switch (dtype) {
    case DT_F32: case DT_I32: return 4;
    case DT_F64: case DT_I64: return 8;
    case DT_U8: return 1;
    default: return 0;
    }
}

static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const unsigned char *p) {
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), and no NUL. */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

void tf_read(TensorFile *tf, const char *path) {
    memset(tf, 0, sizeof *tf);
    tf->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) die("%s: cannot seek: %s", path, strerror(errno));
    long size = ftell(f);
    if (size < 0) die("%s: cannot tell size: %s", path, strerror(errno));
    rewind(f);
    tf->len = (size_t)size;
    tf->buf = xcalloc(tf->len + 1, 1);
    if (tf->len && fread(tf->buf, 1, tf->len, f) != tf->len) die("%s: read error", path);
    fclose(f);

    const unsigned char *b = tf->buf;
    size_t len = tf->len, pos = 16;
    if (len < 16) die("%s: truncated header (%zu bytes, need 16)", path, len);
    if (memcmp(b, MAGIC, 8) != 0) die("%s: not a numbaplay tensor file (bad magic)", path);
    uint32_t version = rd_u32(b + 8);
    if (version != TF_VERSION) die("%s: unsupported version %u (expected %u)", path, version, TF_VERSION);
    uint32_t n = rd_u32(b + 12);
    /* The smallest tensor record is 13 bytes (u32 name length, 1-byte name, dtype, ndim). */
    if (n > (len - 16) / 13)
        die("%s: header says %u tensors but only %zu bytes follow it (truncated?)", path, n, len - 16);
    tf->n = n;
    tf->t = xcalloc(n ? n : 1, sizeof(Tensor));
    for (uint32_t i = 0; i < n; i++) {
        Tensor *t = &tf->t[i];
        if (len - pos < 4) die("%s: truncated at tensor %u name length (offset %zu)", path, i, pos);
        uint32_t nl = rd_u32(b + pos);
        pos += 4;
        if (nl < 1 || nl > 255) die("%s: tensor %u has name length %u (must be 1..255)", path, i, nl);
        if (len - pos < nl) die("%s: truncated in tensor %u name (offset %zu)", path, i, pos);
        if (!valid_utf8(b + pos, nl)) die("%s: tensor %u name is not valid UTF-8", path, i);
        memcpy(t->name, b + pos, nl);
        t->name[nl] = 0;
        pos += nl;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(tf->t[j].name, t->name) == 0) die("%s: duplicate tensor '%s'", path, t->name);
        if (len - pos < 8) die("%s: truncated in tensor '%s' header", path, t->name);
        t->dtype = rd_u32(b + pos);
        t->ndim = rd_u32(b + pos + 4);
        pos += 8;
        if (dtype_size(t->dtype) == 0) die("%s: tensor '%s' has unknown dtype %u", path, t->name, t->dtype);
        if (t->ndim > TF_MAX_NDIM) die("%s: tensor '%s' has ndim %u (at most %d)", path, t->name, t->ndim, TF_MAX_NDIM);
        if ((len - pos) / 8 < t->ndim) die("%s: truncated in tensor '%s' dims", path, t->name);
        uint64_t count = 1;
        int zero = 0;
        for (uint32_t d = 0; d < t->ndim; d++) {
            t->dims[d] = rd_u64(b + pos);
            pos += 8;
            if (t->dims[d] == 0) zero = 1;
            else if (count > UINT64_MAX / t->dims[d]) die("%s: tensor '%s' dims overflow", path, t->name);
            else count *= t->dims[d];
        }
        /* A zero-length axis makes the tensor empty whatever the other dims say. */
        t->count = zero ? 0 : count;
        uint64_t remain = len - pos;
        if (count > remain / dtype_size(t->dtype) && !zero)
            die("%s: tensor '%s' needs %llu x %zu bytes but only %llu remain (truncated?)", path, t->name,
                (unsigned long long)count, dtype_size(t->dtype), (unsigned long long)remain);
        t->data = b + pos;
        pos += (size_t)(t->count * dtype_size(t->dtype));
    }
    if (pos != len) die("%s: %zu trailing bytes after the last tensor", path, len - pos);
}

void tf_free(TensorFile *tf) {
    free(tf->buf);
    free(tf->t);
    memset(tf, 0, sizeof *tf);
}

Tensor *tf_find(TensorFile *tf, const char *name) {
    for (uint32_t i = 0; i < tf->n; i++)
        if (strcmp(tf->t[i].name, name) == 0) return &tf->t[i];
    return NULL;
}

void tf_check_all_used(TensorFile *tf) {
    for (uint32_t i = 0; i < tf->n; i++)
        if (!tf->t[i].used) die("%s: unexpected tensor '%s' for this mode", tf->path, tf->t[i].name);
}

static void shape_str(char *out, size_t cap, uint32_t ndim, const uint64_t *dims) {
    size_t k = (size_t)snprintf(out, cap, "(");
    for (uint32_t d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(out + k, cap - k, d ? ", %llu" : "%llu", (unsigned long long)dims[d]);
    if (k < cap) snprintf(out + k, cap - k, ")");
}

void *tf_get(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim, const int64_t *expect,
             int64_t *dims_out) {
    Tensor *t = tf_find(tf, name);
    if (!t) die("%s: missing tensor '%s'", tf->path, name);
    t->used = 1;
    if (t->dtype != dtype)
        die("%s: tensor '%s' has dtype %s, expected %s", tf->path, name, dtype_name(t->dtype), dtype_name(dtype));
    if (t->ndim != ndim) die("%s: tensor '%s' has %u dims, expected %u", tf->path, name, t->ndim, ndim);
    for (uint32_t d = 0; d < ndim; d++) {
        if (t->dims[d] > (uint64_t)INT32_MAX)
            die("%s: tensor '%s' axis %u is too long (%llu)", tf->path, name, d, (unsigned long long)t->dims[d]);
        if (expect && expect[d] >= 0 && t->dims[d] != (uint64_t)expect[d]) {
            char got[128], want[128];
            uint64_t w[TF_MAX_NDIM];
            for (uint32_t e = 0; e < ndim; e++) w[e] = expect[e] >= 0 ? (uint64_t)expect[e] : t->dims[e];
            shape_str(got, sizeof got, ndim, t->dims);
            shape_str(want, sizeof want, ndim, w);
            die("%s: tensor '%s' has shape %s, expected %s", tf->path, name, got, want);
        }
        if (dims_out) dims_out[d] = (int64_t)t->dims[d];
    }
    size_t bytes = (size_t)t->count * dtype_size(dtype);
    void *out = xcalloc(t->count ? t->count : 1, dtype_size(dtype));
    memcpy(out, t->data, bytes);
    return out;
}

double tf_f64(TensorFile *tf, const char *name) {
    double *p = tf_get(tf, name, DT_F64, 0, NULL, NULL);
    double v = *p;
    free(p);
    return v;
}

int64_t tf_i64(TensorFile *tf, const char *name) {
    int64_t *p = tf_get(tf, name, DT_I64, 0, NULL, NULL);
    int64_t v = *p;
    free(p);
    return v;
}

void tw_add(TensorWriter *tw, const char *name, uint32_t dtype, uint32_t ndim, const int64_t *dims, const void *data) {
    if (tw->n == tw->cap) {
        size_t cap = tw->cap ? 2 * tw->cap : 32;
        struct WTensor *t = realloc(tw->t, cap * sizeof *t);
        if (!t) die("out of memory growing the output list");
        tw->t = t;
        tw->cap = cap;
    }
    struct WTensor *w = &tw->t[tw->n++];
    memset(w, 0, sizeof *w);
    size_t nl = strlen(name);
    w->name = xcalloc(nl + 1, 1);
    memcpy(w->name, name, nl);
    w->dtype = dtype;
    w->ndim = ndim;
    size_t count = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        w->dims[d] = (uint64_t)dims[d];
        count *= (size_t)dims[d];
    }
    w->bytes = count * dtype_size(dtype);
    w->data = xcalloc(w->bytes ? w->bytes : 1, 1);
    if (w->bytes) memcpy(w->data, data, w->bytes);
}

void tw_f64(TensorWriter *tw, const char *name, double v) { tw_add(tw, name, DT_F64, 0, NULL, &v); }
void tw_i64(TensorWriter *tw, const char *name, int64_t v) { tw_add(tw, name, DT_I64, 0, NULL, &v); }

static void wr_u32(FILE *f, uint32_t v, int *ok) {
    unsigned char b[4] = {v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF, v >> 24 & 0xFF};
    *ok &= fwrite(b, 1, 4, f) == 4;
}

static void wr_u64(FILE *f, uint64_t v, int *ok) {
    wr_u32(f, (uint32_t)v, ok);
    wr_u32(f, (uint32_t)(v >> 32), ok);
}

void tw_write(TensorWriter *tw, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) die("%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(MAGIC, 1, 8, f) == 8;
    wr_u32(f, TF_VERSION, &ok);
    wr_u32(f, (uint32_t)tw->n, &ok);
    for (size_t i = 0; i < tw->n; i++) {
        struct WTensor *w = &tw->t[i];
        uint32_t nl = (uint32_t)strlen(w->name);
        wr_u32(f, nl, &ok);
        ok &= fwrite(w->name, 1, nl, f) == nl;
        wr_u32(f, w->dtype, &ok);
        wr_u32(f, w->ndim, &ok);
        for (uint32_t d = 0; d < w->ndim; d++) wr_u64(f, w->dims[d], &ok);
        /* The host is little-endian (x86-64, arm64); the data goes out as it lies in memory. */
        if (w->bytes) ok &= fwrite(w->data, 1, w->bytes, f) == w->bytes;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) die("%s: write error: %s", path, strerror(errno));
}

void tw_free(TensorWriter *tw) {
    for (size_t i = 0; i < tw->n; i++) {
        free(tw->t[i].name);
        free(tw->t[i].data);
    }
    free(tw->t);
    memset(tw, 0, sizeof *tw);
}
