// f32 -> Q8_0 / Q4_0 quantisation, the same f32 operations in the same order as gguf-py's
// gguf/quants.py (Q8_0.quantize_blocks, Q4_0.quantize_blocks), so a model quantized at load holds the same
// bytes `gguf.quants.quantize` (and llama.cpp's reference quantizer) would write.
#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// numpy float32 -> float16 is round-to-nearest-even, as the conversion of _Float16 is.
static inline uint16_t sq_f32_to_f16_bits(float x) {
    _Float16 h = (_Float16)x;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

// gguf-py np_roundf: round half away from zero.
static inline float sq_roundf_away(float n) {
    float a = fabsf(n);
    float floored = floorf(a);
    float b = floored + floorf(2.0f * (a - floored));
    return n < 0 ? -b : (n > 0 ? b : 0.0f * n);
}

void sq_quantize_row_q8_0(const float *x, void *out, int64_t n) {
    uint8_t *dst = (uint8_t *)out;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *blk = x + b * 32;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) { float a = fabsf(blk[i]); if (a > amax) amax = a; }
        const float d = amax / 127.0f;
        const float id = d == 0.0f ? 0.0f : 1.0f / d;
        uint16_t dh = sq_f32_to_f16_bits(d);
        memcpy(dst, &dh, 2);
        int8_t *qs = (int8_t *)(dst + 2);
        for (int i = 0; i < 32; i++) qs[i] = (int8_t)sq_roundf_away(blk[i] * id);
        dst += 34;
    }
}

void sq_quantize_row_q4_0(const float *x, void *out, int64_t n) {
    uint8_t *dst = (uint8_t *)out;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *blk = x + b * 32;
        // argmax of |x| (first occurrence), keeping the sign of that element.
        int imax = 0;
        float amax = fabsf(blk[0]);
        for (int i = 1; i < 32; i++) { float a = fabsf(blk[i]); if (a > amax) { amax = a; imax = i; } }
        const float d = blk[imax] / -8.0f;
        const float id = d == 0.0f ? 0.0f : 1.0f / d;
        uint16_t dh = sq_f32_to_f16_bits(d);
        memcpy(dst, &dh, 2);
        uint8_t q[32];
        for (int i = 0; i < 32; i++) {
            float t = truncf(blk[i] * id + 8.5f);
            int v = t < 0 ? 0 : (int)t;
            q[i] = (uint8_t)(v > 15 ? 15 : v);
        }
        for (int j = 0; j < 16; j++) dst[2 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
        dst += 18;
    }
}
