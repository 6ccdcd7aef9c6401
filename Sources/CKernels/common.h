// Internal helpers shared by the per-ISA kernel files (not a public header).
#ifndef SQUINT_CKERNELS_COMMON_H
#define SQUINT_CKERNELS_COMMON_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "CKernels.h"

#define SQ_ALWAYS_INLINE static inline __attribute__((always_inline))

/// From this many tokens, F32 / F16 / BF16 matmuls on AVX-512 take the packed-panel GEMM.
#ifndef SQ_GEMM_F_MIN_TOKENS
#define SQ_GEMM_F_MIN_TOKENS 16
#endif
/// gemm_avx512.c: Y[t, r] (+)= W[r, :] . X[t, :] for F32 / F16 / BF16 weights, rows [r0, r1), n tokens.
void sq_gemm_f_avx512(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t r0, int64_t r1);

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

/// Little-endian 16/32-bit loads from unaligned block bytes.
SQ_ALWAYS_INLINE uint16_t sq_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
SQ_ALWAYS_INLINE uint32_t sq_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block, from its 12 packed bytes:
/// bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7, bytes 4-7 the same for mins,
/// bytes 8-11 the low 4 bits of scale 4+i (low nibble) and min 4+i (high nibble). (gguf-py
/// Q4_K.get_scale_min, ggml get_scale_min_k4.)
SQ_ALWAYS_INLINE void sq_k_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 0x3F;
        *mn = s[j + 4] & 0x3F;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30);
    }
}

/// The parts of an int8 activation buffer (layout in quant_int8_template.h): n rows of cols (a multiple
/// of 32) int8 quants, then n * cols / 32 block scales d, as many block sums s = d * sum(q), the integer
/// sums of every 16 quants (n * cols / 16 int32: the packed Q6_K kernel's sub-blocks), then the
/// same quants regrouped by 4 tokens (SQ_G4_BYTES per group of 4 tokens and block) for the AVX-512 kernel,
/// and for one token (n = 1) the same quants laid out along Q4_0 rows for the AVX-512 decode kernel
/// (SQ_C4_BYTES per 64-byte chunk of a weight row; layout in quant_int8_chunks.h).
#define SQ_G4_BYTES 208
#define SQ_C4_BYTES 320
/// Rows shorter than this take the per-block kernel for one Q4_0 token (see sq_matmul_q8act).
#ifndef SQ_C4_MIN_COLS
#define SQ_C4_MIN_COLS 2048
#endif

/// 64-byte chunks of a Q4_0 row of cols (the last one may overlap its predecessor).
SQ_ALWAYS_INLINE int64_t sq_c4_chunks(int64_t cols) { return (cols / 32 * 18 + 63) / 64; }

typedef struct {
    int8_t *q;
    float *d;
    float *s;
    int32_t *s16;
    uint8_t *g4;
    uint8_t *c4;  // n = 1 only, else NULL
} sq_actp;

SQ_ALWAYS_INLINE sq_actp sq_act_parts(void *buf, int64_t n, int64_t cols) {
    sq_actp a;
    const int64_t nb = n * (cols / 32);
    a.q = (int8_t *)buf;
    a.d = (float *)(a.q + n * cols);  // n * cols is a multiple of 32: the floats stay 4-byte aligned
    a.s = a.d + nb;
    a.s16 = (int32_t *)(a.s + nb);
    a.g4 = (uint8_t *)(a.s16 + 2 * nb);
    // 208 = 16 * 13: the chunks stay 16-byte aligned when the buffer is.
    a.c4 = n == 1 ? a.g4 + (n + 3) / 4 * (cols / 32) * SQ_G4_BYTES : NULL;
    return a;
}

/// Bytes of the buffer sq_act_parts carves up.
SQ_ALWAYS_INLINE int64_t sq_act_bytes(int64_t n, int64_t cols) {
    return n * cols + 4 * 4 * n * (cols / 32) + (n + 3) / 4 * (cols / 32) * SQ_G4_BYTES +
           (n == 1 ? sq_c4_chunks(cols) * SQ_C4_BYTES : 0);
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
    void sq_attention_##sfx(const sq_attention_params *p, int64_t h0, int64_t h1);                       \
    void sq_attention_stream_##sfx(const sq_attention_params *p, int64_t h0, int64_t h1);                \
    int sq_attention_blocked_##sfx(const sq_attention_params *p, int64_t h0, int64_t h1);                \
    void sq_matmul_quant_##sfx(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols, \
                               int64_t ldy, int64_t r0, int64_t r1);                                      \
    void sq_quantize_act_##sfx(const float *X, int64_t n, int64_t cols, void *buf, int64_t t0, int64_t t1); \
    void sq_matmul_q8act_##sfx(int dt, const void *W, const void *act, float *Y, int64_t n, int64_t cols, \
                               int64_t ldy, int64_t r0, int64_t r1);

SQ_DECLARE_ISA(scalar)
SQ_DECLARE_ISA(avx2)
SQ_DECLARE_ISA(avx512)

#endif
