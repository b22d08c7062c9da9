#ifndef KILN_CBLAS_SHIM_H
#define KILN_CBLAS_SHIM_H
#include <cblas.h>
#endif
