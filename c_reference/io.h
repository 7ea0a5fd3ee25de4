/* The numbaplay tensor file (docs/FILEFORMAT.md): magic "NBPLAY\0\1", u32 version 1, u32 n_tensors,
 * then per tensor: u32 name length (1..255), UTF-8 name, u32 dtype, u32 ndim (0..4), u64 dims[ndim],
 * data in C order; all little-endian, no padding. Every error is one line on stderr and exit code 2. */
#ifndef NBP_IO_H
#define NBP_IO_H

#include <stddef.h>
#include <stdint.h>

enum { DT_F32 = 1, DT_F64 = 2, DT_I32 = 3, DT_I64 = 4, DT_U8 = 5 };
#define TF_MAX_NDIM 4
#define TF_VERSION 1u

typedef struct {
    char name[256];
    uint32_t dtype;
    uint32_t ndim;
    uint64_t dims[TF_MAX_NDIM];
    uint64_t count;               /* product of dims (1 for a scalar) */
    const unsigned char *data;    /* into the file buffer, unaligned */
    int used;                     /* set when a mode asked for it */
} Tensor;

typedef struct {
    const char *path;
    unsigned char *buf;
    size_t len;
    uint32_t n;
    Tensor *t;
} TensorFile;

/* Print "numbaplay_c: error: <msg>" and exit(2). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Checked allocation: zeroed, dies with a message when the size overflows or memory runs out. */
void *xcalloc(size_t count, size_t size);
const char *dtype_name(uint32_t dtype);
size_t dtype_size(uint32_t dtype);

/* Read and validate a whole file; dies on any malformed byte. */
void tf_read(TensorFile *tf, const char *path);
void tf_free(TensorFile *tf);
/* The tensor called name, or NULL. */
Tensor *tf_find(TensorFile *tf, const char *name);
/* Die naming the first tensor no mode asked for (a typo or a foreign file). */
void tf_check_all_used(TensorFile *tf);

/* Copy of a required tensor, checked against dtype and ndim; expect[i] >= 0 pins dims[i]. The copy
 * is aligned and owned by the caller; dims_out (may be NULL) gets the actual dims. */
void *tf_get(TensorFile *tf, const char *name, uint32_t dtype, uint32_t ndim, const int64_t *expect,
             int64_t *dims_out);
/* Scalars (ndim 0) of an exact dtype. */
double tf_f64(TensorFile *tf, const char *name);
int64_t tf_i64(TensorFile *tf, const char *name);

/* Output: tensors collected in memory, written in one go. Data is copied on add. */
typedef struct {
    size_t n, cap;
    struct WTensor { char *name; uint32_t dtype, ndim; uint64_t dims[TF_MAX_NDIM]; void *data; size_t bytes; } *t;
} TensorWriter;

void tw_add(TensorWriter *tw, const char *name, uint32_t dtype, uint32_t ndim, const int64_t *dims, const void *data);
void tw_f64(TensorWriter *tw, const char *name, double v);
void tw_i64(TensorWriter *tw, const char *name, int64_t v);
void tw_write(TensorWriter *tw, const char *path);
void tw_free(TensorWriter *tw);

#endif
