#include "CKernels.h"
int sq_kernels_placeholder(void) { return 0; }
