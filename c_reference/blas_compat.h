/* One include for the BLAS: scipy-openblas32 prefixes every symbol with scipy_ (so it can sit beside
 * another OpenBLAS in one process); with NBP_SCIPY_OPENBLAS defined the plain CBLAS names used in
 * this code are mapped onto the prefixed ones. Without it, a system OpenBLAS's cblas.h is used. */
#ifndef NBP_BLAS_COMPAT_H
#define NBP_BLAS_COMPAT_H

#include <cblas.h>

#ifdef NBP_SCIPY_OPENBLAS
#define cblas_sgemm scipy_cblas_sgemm
#define openblas_set_num_threads scipy_openblas_set_num_threads
#define openblas_get_config scipy_openblas_get_config
#endif

#endif
