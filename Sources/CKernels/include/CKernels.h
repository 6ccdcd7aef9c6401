#ifndef SQUINT_CKERNELS_H
#define SQUINT_CKERNELS_H
#include <stddef.h>
#include <stdint.h>
int sq_kernels_placeholder(void);
#endif
