// PNG decoding through libpng, converting each colour type the way Pillow's PngImagePlugin (modes and
// rawmodes) followed by convert("RGB") does:
//   gray 1/2/4-bit -> L scaled (x255, x85, x17); gray 8 -> L; gray 16 -> "I;16", and convert("RGB")
//   CLAMPS (v > 255 -> 255, it does not shift); RGB 16 / RGBA 16 / LA 16 -> the high byte of each sample;
//   palette -> PLTE lookup (an index beyond the palette reads black, as Pillow's zero-padded palette);
//   alpha and tRNS are dropped, never composited (convert("RGB") just discards them).
// No gamma, sRGB or ICC handling: Pillow ignores those chunks when converting too.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "CImageCodecs.h"

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *msg;
    size_t msg_cap;
} sq_png_source;

static void sq_png_error(png_structp png, png_const_charp message) {
    sq_png_source *src = (sq_png_source *)png_get_error_ptr(png);
    if (src->msg != NULL && src->msg_cap > 0) {
        snprintf(src->msg, src->msg_cap, "%s", message);
    }
    png_longjmp(png, 1);
}

static void sq_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void sq_png_read(png_structp png, png_bytep out, png_size_t length) {
    sq_png_source *src = (sq_png_source *)png_get_io_ptr(png);
    if (length > src->size - src->offset) {
        png_error(png, "file is truncated");
    }
    memcpy(out, src->data + src->offset, length);
    src->offset += length;
}

// One unpacked row (png_set_packing: one byte per sample below 8 bits) to RGB.
static void sq_png_row_to_rgb(const uint8_t *in, uint8_t *out, uint32_t width, int color_type, int bit_depth,
                              const png_color *palette, int palette_size) {
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        for (uint32_t x = 0; x < width; x++, out += 3) {
            int i = in[x];
            if (i < palette_size) {
                out[0] = palette[i].red, out[1] = palette[i].green, out[2] = palette[i].blue;
            } else {
                out[0] = out[1] = out[2] = 0;
            }
        }
        return;
    }
    int bytes = bit_depth == 16 ? 2 : 1;  // per sample
    int channels = color_type == PNG_COLOR_TYPE_GRAY ? 1
                 : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                 : color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
    size_t step = (size_t)bytes * channels;
    if (color_type == PNG_COLOR_TYPE_GRAY) {
        for (uint32_t x = 0; x < width; x++, in += step, out += 3) {
            uint8_t v;
            switch (bit_depth) {
                case 1: v = in[0] ? 255 : 0; break;
                case 2: v = (uint8_t)(in[0] * 85); break;
                case 4: v = (uint8_t)(in[0] * 17); break;
                case 8: v = in[0]; break;
                default: v = in[0] != 0 ? 255 : in[1]; break;  // 16-bit big-endian, clamped
            }
            out[0] = out[1] = out[2] = v;
        }
    } else if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
        for (uint32_t x = 0; x < width; x++, in += step, out += 3) {
            out[0] = out[1] = out[2] = in[0];  // first (high) byte of the gray sample
        }
    } else {
        for (uint32_t x = 0; x < width; x++, in += step, out += 3) {
            out[0] = in[0], out[1] = in[bytes], out[2] = in[2 * bytes];
        }
    }
}

int sq_png_decode_rgb(const uint8_t *data, size_t size, uint32_t width, uint32_t height, uint8_t *rgb,
                      size_t rgb_cap, char *msg, size_t msg_cap) {
    sq_png_source src = {data, size, 0, msg, msg_cap};
    if (msg != NULL && msg_cap > 0) {
        msg[0] = 0;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, sq_png_error, sq_png_warning);
    if (png == NULL) {
        snprintf(msg, msg_cap, "libpng could not start");
        return SQ_ERR_SIZE;
    }
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile buffer = NULL;  // volatile: must survive the longjmp back to setjmp
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        free(buffer);
        png_destroy_read_struct(&png, &info, NULL);
        return SQ_ERR_CORRUPT;
    }
    png_set_read_fn(png, &src, sq_png_read);
    // The caller enforces its own pixel limit before calling; lift libpng's default 1M x 1M cap check
    // only as far as the already-validated header.
    png_set_user_limits(png, width, height);
    png_read_info(png, info);

    png_uint_32 w, h;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (w != width || h != height || (size_t)w * h * 3 != rgb_cap) {
        snprintf(msg, msg_cap, "IHDR %ux%u does not match the expected %ux%u", w, h, width, height);
        png_destroy_read_struct(&png, &info, NULL);
        return SQ_ERR_SIZE;
    }
    png_colorp palette = NULL;
    int palette_size = 0;
    if (color_type == PNG_COLOR_TYPE_PALETTE && !png_get_PLTE(png, info, &palette, &palette_size)) {
        snprintf(msg, msg_cap, "palette image without a PLTE chunk");
        png_destroy_read_struct(&png, &info, NULL);
        return SQ_ERR_CORRUPT;
    }
    if (bit_depth < 8) {
        png_set_packing(png);  // one byte per sample, values unscaled
    }
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);

    // Non-interlaced: one row at a time. Adam7: libpng needs the whole image to combine the passes.
    size_t rows_held = passes > 1 ? h : 1;
    buffer = malloc(rowbytes * rows_held);
    if (buffer == NULL) {
        snprintf(msg, msg_cap, "out of memory for %zu bytes of rows", rowbytes * rows_held);
        png_destroy_read_struct(&png, &info, NULL);
        return SQ_ERR_SIZE;
    }
    if (passes > 1) {
        for (int pass = 0; pass < passes; pass++) {
            for (png_uint_32 y = 0; y < h; y++) {
                png_read_row(png, buffer + y * rowbytes, NULL);
            }
        }
        for (png_uint_32 y = 0; y < h; y++) {
            sq_png_row_to_rgb(buffer + y * rowbytes, rgb + (size_t)y * w * 3, w, color_type, bit_depth, palette,
                              palette_size);
        }
    } else {
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, buffer, NULL);
            sq_png_row_to_rgb(buffer, rgb + (size_t)y * w * 3, w, color_type, bit_depth, palette, palette_size);
        }
    }
    // No png_read_end: the pixels are complete; trailing chunks (and their CRCs) do not change them.
    free(buffer);
    png_destroy_read_struct(&png, &info, NULL);
    return SQ_OK;
}
