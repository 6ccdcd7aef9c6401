// Internal helpers shared by the per-ISA kernel files (not a public header).
#ifndef SQUINT_CKERNELS_COMMON_H
#define SQUINT_CKERNELS_COMMON_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "CKernels.h"

#define SQ_ALWAYS_INLINE static inline __attribute__((always_inline))

/// bf16 is the top half of an f32: widening is exact.
SQ_ALWAYS_INLINE float sq_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// IEEE half -> float, exact, including subnormals, infinities and NaN.
SQ_ALWAYS_INLINE float sq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        // Zero or subnormal: man * 2^-24 is exact in f32.
        float f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Element c of a weight row of dtype dt, widened.
SQ_ALWAYS_INLINE float sq_load_scalar(int dt, const void *row, int64_t c) {
    if (dt == SQ_F32) return ((const float *)row)[c];
    if (dt == SQ_F16) return sq_f16_to_f32(((const uint16_t *)row)[c]);
    return sq_bf16_to_f32(((const uint16_t *)row)[c]);
}

// Entry points of each ISA variant (defined by including kernels_template.h with SQ_FN set).
#define SQ_DECLARE_ISA(sfx)                                                                               \
    void sq_matmul_##sfx(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols,       \
                         int64_t ldy, int64_t r0, int64_t r1);                                            \
    void sq_rmsnorm_##sfx(const float *x, int dt, const void *w, float w_offset, float *y, int64_t n,   \
                          float eps);                                                                     \
    void sq_silu_mul_##sfx(float *gate, const float *up, int64_t n);                                      \
    void sq_add_##sfx(float *y, const float *a, const float *b, int64_t n);                              \
    void sq_convert_row_##sfx(int dt, const void *src, float *dst, int64_t n);                           \
    float sq_sum_f32_##sfx(const float *x, int64_t n);                                                    \
    void sq_layernorm_##sfx(const float *x, int dt, const void *w, const void *b, float *y, int64_t n,   \
                            float eps);                                                                   \
    void sq_activation_##sfx(int kind, float *x, int64_t n);                                              \
    void sq_attention_##sfx(const sq_attention_params *p, int64_t h0, int64_t h1);

SQ_DECLARE_ISA(scalar)
SQ_DECLARE_ISA(avx2)
SQ_DECLARE_ISA(avx512)

#endif
