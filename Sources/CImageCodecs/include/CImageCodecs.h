#ifndef SQUINT_CIMAGECODECS_H
#define SQUINT_CIMAGECODECS_H
// Thin C shims over libjpeg(-turbo) and libpng for ImageProcessing.
//
// Why C: libjpeg's default error_exit calls exit() and libpng reports errors by longjmp; neither can
// unwind through Swift frames. Every libjpeg/libpng call therefore happens in these functions, under a
// setjmp, and errors come back as a status code plus a one-line message in `msg`.
//
// All decoders write packed 8-bit RGB (3 bytes per pixel, rows top to bottom) into a caller-owned
// buffer of exactly width*height*3 bytes, converting the file's colour model the way Pillow's
// `Image.open(...).convert("RGB")` does (see the .c files for each rule).

#include <stddef.h>
#include <stdint.h>

#define SQ_OK 0
#define SQ_ERR_CORRUPT 1      // the library rejected the data; msg says why
#define SQ_ERR_UNSUPPORTED 2  // a valid file Pillow also refuses (e.g. 2-component JPEG)
#define SQ_ERR_SIZE 3         // buffer size / header mismatch (caller bug or changed header)

typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t components;  // 1 (gray), 3 (YCbCr/RGB) or 4 (CMYK/YCCK)
} sq_jpeg_header;

/// Reads the JPEG markers up to the first scan; allocates no pixel memory.
int sq_jpeg_read_header(const uint8_t *data, size_t size, sq_jpeg_header *out, char *msg, size_t msg_cap);

/// Decodes the whole JPEG into `rgb` (capacity `rgb_cap` must be width*height*3).
int sq_jpeg_decode_rgb(const uint8_t *data, size_t size, uint8_t *rgb, size_t rgb_cap, char *msg,
                       size_t msg_cap);

/// Decodes a PNG whose IHDR the caller has already parsed (`width`, `height`) into `rgb`.
int sq_png_decode_rgb(const uint8_t *data, size_t size, uint32_t width, uint32_t height, uint8_t *rgb,
                      size_t rgb_cap, char *msg, size_t msg_cap);

/// SHA-256 of `size` bytes (FIPS 180-4); `out` receives 32 bytes.
void sq_sha256(const uint8_t *data, size_t size, uint8_t out[32]);

/// Incremental SHA-256 for hashing several buffers (e.g. a header then pixels).
typedef struct {
    uint32_t state[8];
    uint64_t length;      // bytes hashed so far
    uint8_t block[64];
    size_t used;          // bytes pending in `block`
} sq_sha256_ctx;

void sq_sha256_init(sq_sha256_ctx *ctx);
void sq_sha256_update(sq_sha256_ctx *ctx, const uint8_t *data, size_t size);
void sq_sha256_final(sq_sha256_ctx *ctx, uint8_t out[32]);

/// Chooses the SHA-256 implementation: enable=1 uses the x86 SHA extensions when the CPU has them,
/// enable=0 forces portable C (for tests comparing the two). Returns 1 when the extensions are in use.
int sq_sha256_accelerated(int enable);

#endif
