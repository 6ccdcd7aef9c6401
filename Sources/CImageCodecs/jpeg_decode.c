// JPEG decoding through libjpeg(-turbo), matching Pillow's JpegDecode.c defaults: no draft mode,
// so the library defaults apply (JDCT_ISLOW, fancy upsampling, block smoothing), the JPEG colour space
// is libjpeg's own guess from the JFIF/Adobe markers, and the output colour space follows the number of
// components exactly as JpegImagePlugin picks the PIL mode: 1 -> L, 3 -> RGB, 4 -> CMYK (Adobe-inverted).
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "CImageCodecs.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *msg;
    size_t msg_cap;
} sq_jpeg_error;

static void sq_jpeg_error_exit(j_common_ptr cinfo) {
    sq_jpeg_error *err = (sq_jpeg_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    if (err->msg != NULL && err->msg_cap > 0) {
        snprintf(err->msg, err->msg_cap, "%s", buffer);
    }
    longjmp(err->jump, 1);
}

// Warnings (level -1) are ignored as Pillow ignores them, with one exception: running out of data.
// libjpeg's memory source would then pad with a fake EOI and return grey rows, while Pillow raises
// "image file is truncated", so a truncated file is an error here too.
static void sq_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        sq_jpeg_error_exit(cinfo);
    }
}

static void sq_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void sq_jpeg_setup_errors(struct jpeg_decompress_struct *cinfo, sq_jpeg_error *err, char *msg,
                                 size_t msg_cap) {
    cinfo->err = jpeg_std_error(&err->pub);
    err->pub.error_exit = sq_jpeg_error_exit;
    err->pub.emit_message = sq_jpeg_emit_message;
    err->pub.output_message = sq_jpeg_output_message;
    err->msg = msg;
    err->msg_cap = msg_cap;
    if (msg != NULL && msg_cap > 0) {
        msg[0] = 0;
    }
}

int sq_jpeg_read_header(const uint8_t *data, size_t size, sq_jpeg_header *out, char *msg, size_t msg_cap) {
    struct jpeg_decompress_struct cinfo;
    sq_jpeg_error jerr;
    sq_jpeg_setup_errors(&cinfo, &jerr, msg, msg_cap);
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return SQ_ERR_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    out->width = cinfo.image_width;
    out->height = cinfo.image_height;
    out->components = cinfo.num_components;
    jpeg_destroy_decompress(&cinfo);
    return SQ_OK;
}

// Pillow: MULDIV255(a, b) = (a*b + 128 + ((a*b + 128) >> 8)) >> 8, a fast round(a*b/255).
static inline int sq_muldiv255(int a, int b) {
    int tmp = a * b + 128;
    return ((tmp >> 8) + tmp) >> 8;
}

// Pillow decodes 4-component JPEGs with rawmode "CMYK;I" (Adobe writers store inverted CMYK), then
// convert("RGB") applies Convert.c's cmyk2rgb: with nk = 255 - K,  R = nk - muldiv255(C, nk).
static void sq_cmyk_inverted_to_rgb(const uint8_t *in, uint8_t *out, uint32_t width) {
    for (uint32_t x = 0; x < width; x++, in += 4, out += 3) {
        int nk = in[3];           // 255 - (255 - K_stored)
        int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2];
        out[0] = (uint8_t)(nk - sq_muldiv255(c, nk));
        out[1] = (uint8_t)(nk - sq_muldiv255(m, nk));
        out[2] = (uint8_t)(nk - sq_muldiv255(y, nk));
    }
}

int sq_jpeg_decode_rgb(const uint8_t *data, size_t size, uint8_t *rgb, size_t rgb_cap, char *msg,
                       size_t msg_cap) {
    struct jpeg_decompress_struct cinfo;
    sq_jpeg_error jerr;
    uint8_t *volatile row = NULL;  // volatile: must survive the longjmp back to setjmp
    sq_jpeg_setup_errors(&cinfo, &jerr, msg, msg_cap);
    if (setjmp(jerr.jump)) {
        free(row);
        jpeg_destroy_decompress(&cinfo);
        return SQ_ERR_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    int components = cinfo.num_components;
    if (cinfo.data_precision != 8 || (components != 1 && components != 3 && components != 4)) {
        snprintf(msg, msg_cap, "unsupported JPEG: %d-bit samples, %d components (Pillow reads 8-bit with 1, 3 or 4)",
                 cinfo.data_precision, components);
        jpeg_destroy_decompress(&cinfo);
        return SQ_ERR_UNSUPPORTED;
    }
    cinfo.out_color_space = components == 1 ? JCS_GRAYSCALE : (components == 3 ? JCS_RGB : JCS_CMYK);
    jpeg_start_decompress(&cinfo);

    uint32_t width = cinfo.output_width, height = cinfo.output_height;
    if ((size_t)width * height * 3 != rgb_cap || cinfo.output_components != components) {
        snprintf(msg, msg_cap, "decoded size %ux%u does not match the header", width, height);
        jpeg_destroy_decompress(&cinfo);
        return SQ_ERR_SIZE;
    }
    if (components != 3) {
        row = malloc((size_t)width * components);
        if (row == NULL) {
            snprintf(msg, msg_cap, "out of memory for a %u-pixel row", width);
            jpeg_destroy_decompress(&cinfo);
            return SQ_ERR_SIZE;
        }
    }
    while (cinfo.output_scanline < height) {
        uint8_t *dst = rgb + (size_t)cinfo.output_scanline * width * 3;
        JSAMPROW target = components == 3 ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            snprintf(msg, msg_cap, "decoder stopped at row %u of %u", cinfo.output_scanline, height);
            free(row);
            jpeg_destroy_decompress(&cinfo);
            return SQ_ERR_CORRUPT;
        }
        if (components == 1) {
            for (uint32_t x = 0; x < width; x++) {
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
            }
        } else if (components == 4) {
            sq_cmyk_inverted_to_rgb(row, dst, width);
        }
    }
    // No jpeg_finish_decompress: like Pillow, stop once every row is decoded, so trailing garbage or a
    // missing EOI after complete data is not an error.
    free(row);
    jpeg_destroy_decompress(&cinfo);
    return SQ_OK;
}
