#ifndef SQUINT_CPNG_SHIM_H
#define SQUINT_CPNG_SHIM_H
#include <png.h>
#endif
