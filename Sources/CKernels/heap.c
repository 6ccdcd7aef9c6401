#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void sq_release_free_heap(void) {
#if defined(__GLIBC__)
    // Also returns free pages in the middle of every arena (glibc >= 2.8), not only the top.
    malloc_trim(0);
#endif
}
