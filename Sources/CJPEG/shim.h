#ifndef SQUINT_CJPEG_SHIM_H
#define SQUINT_CJPEG_SHIM_H
#include <stdio.h>
#include <jpeglib.h>
#endif
