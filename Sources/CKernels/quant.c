// Dequantization of GGML block formats (ggml-common.h layouts), compiled once without ISA attributes.
// The results are bit-identical to gguf-py's `gguf.quants.dequantize`: every value is computed with the
// same f32 operations in the same order (f16 scales widened exactly, then products and sums rounded one
// by one). The package builds with -ffp-contract=fast, which would fuse `d * q + m` into one FMA (one
// rounding instead of two) and ignores `#pragma clang fp contract`; SQ_ROUNDED forces the product to be
// materialised first.
#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#define SQ_ROUNDED(v) __asm__("" : "+x"(v))
#else
#define SQ_ROUNDED(v) __asm__("" : "+w"(v))
#endif

SQ_ALWAYS_INLINE float sq_rdf16(const uint8_t *p) { return sq_f16_to_f32(sq_le16(p)); }

// d * q + m with the product rounded to f32 before the add (numpy's two operations).
SQ_ALWAYS_INLINE float sq_mul_add(float d, float q, float m) {
    float p = d * q;
    SQ_ROUNDED(p);
    return p + m;
}

// d * q - m, same rounding as above.
SQ_ALWAYS_INLINE float sq_mul_sub(float d, float q, float m) {
    float p = d * q;
    SQ_ROUNDED(p);
    return p - m;
}

static void sq_deq_q8_0(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void sq_deq_q4_0(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 0x0F) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

static void sq_deq_q4_1(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b), m = sq_rdf16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = sq_mul_add(d, (float)(qs[j] & 0x0F), m);
        y[j + 16] = sq_mul_add(d, (float)(qs[j] >> 4), m);
    }
}

// Element j's fifth bit is bit j of the little-endian u32 qh; its low four bits are the low nibble of
// qs[j] for j < 16 and the high nibble of qs[j - 16] otherwise.
static void sq_deq_q5_0(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b);
    const uint32_t qh = sq_le32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        const int lo = (qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
        const int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        y[j] = d * (float)(lo - 16);
        y[j + 16] = d * (float)(hi - 16);
    }
}

static void sq_deq_q5_1(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b), m = sq_rdf16(b + 2);
    const uint32_t qh = sq_le32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        const int lo = (qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
        const int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        y[j] = sq_mul_add(d, (float)lo, m);
        y[j + 16] = sq_mul_add(d, (float)hi, m);
    }
}

// 256 elements as 8 sub-blocks of 32: sub-block 2g takes the low nibbles of qs[32g ..< 32g+32], 2g+1
// the high nibbles. x = (d * scale) * q - (dmin * min).
static void sq_deq_q4_K(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b), dmin = sq_rdf16(b + 2);
    const uint8_t *scales = b + 4, *qs = b + 16;
    for (int s = 0; s < 8; s++) {
        int sc, mn;
        sq_k_scale_min(scales, s, &sc, &mn);
        const float d1 = d * (float)sc, m1 = dmin * (float)mn;
        const uint8_t *q = qs + 32 * (s / 2);
        const int shift = 4 * (s % 2);
        for (int l = 0; l < 32; l++) y[32 * s + l] = sq_mul_sub(d1, (float)((q[l] >> shift) & 0x0F), m1);
    }
}

// Q4_K plus a fifth bit: bit s of qh[l] for element l of sub-block s.
static void sq_deq_q5_K(const uint8_t *b, float *y) {
    const float d = sq_rdf16(b), dmin = sq_rdf16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
    for (int s = 0; s < 8; s++) {
        int sc, mn;
        sq_k_scale_min(scales, s, &sc, &mn);
        const float d1 = d * (float)sc, m1 = dmin * (float)mn;
        const uint8_t *q = qs + 32 * (s / 2);
        const int shift = 4 * (s % 2);
        for (int l = 0; l < 32; l++) {
            const int v = ((q[l] >> shift) & 0x0F) | (((qh[l] >> s) & 1) << 4);
            y[32 * s + l] = sq_mul_sub(d1, (float)v, m1);
        }
    }
}

// 256 elements in two halves of 128; in half g, element r takes its low 4 bits from ql[64g + r % 64]
// (low nibble for r < 64, high otherwise) and its top 2 bits from qh[32g + r % 32] at bit 2 * (r / 32).
// x = (d * scales[e / 16]) * (q - 32).
static void sq_deq_q6_K(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    const float d = sq_rdf16(b + 208);
    for (int e = 0; e < 256; e++) {
        const int g = e / 128, r = e % 128;
        const int lo = (ql[64 * g + r % 64] >> (4 * (r / 64))) & 0x0F;
        const int hi = (qh[32 * g + r % 32] >> (2 * (r / 32))) & 0x03;
        const float ds = d * (float)scales[e / 16];
        y[e] = ds * (float)((lo | (hi << 4)) - 32);
    }
}

void sq_dequantize_row(int dt, const void *src, float *dst, int64_t n) {
    const uint8_t *b = (const uint8_t *)src;
    switch (dt) {
    case SQ_F32: memcpy(dst, src, (size_t)n * 4); return;
    case SQ_F16: for (int64_t i = 0; i < n; i++) dst[i] = sq_f16_to_f32(sq_le16(b + 2 * i)); return;
    case SQ_BF16: for (int64_t i = 0; i < n; i++) dst[i] = sq_bf16_to_f32(sq_le16(b + 2 * i)); return;
    default: break;
    }
    const int64_t bs = sq_block_size(dt), bb = sq_block_bytes(dt);
    if (bs <= 1) return;
    void (*one)(const uint8_t *, float *) = NULL;
    switch (dt) {
    case SQ_Q8_0: one = sq_deq_q8_0; break;
    case SQ_Q4_0: one = sq_deq_q4_0; break;
    case SQ_Q4_1: one = sq_deq_q4_1; break;
    case SQ_Q5_0: one = sq_deq_q5_0; break;
    case SQ_Q5_1: one = sq_deq_q5_1; break;
    case SQ_Q4_K: one = sq_deq_q4_K; break;
    case SQ_Q5_K: one = sq_deq_q5_K; break;
    case SQ_Q6_K: one = sq_deq_q6_K; break;
    default: return;
    }
    for (int64_t i = 0; i < n / bs; i++) one(b + i * bb, dst + i * bs);
}

int64_t sq_block_size(int dt) {
    switch (dt) {
    case SQ_Q8_0: case SQ_Q4_0: case SQ_Q4_1: case SQ_Q5_0: case SQ_Q5_1: return 32;
    case SQ_Q4_K: case SQ_Q5_K: case SQ_Q6_K: return 256;
    default: return 1;
    }
}

int64_t sq_block_bytes(int dt) {
    switch (dt) {
    case SQ_F32: return 4;
    case SQ_F16: case SQ_BF16: return 2;
    case SQ_Q8_0: return 34;
    case SQ_Q4_0: return 18;
    case SQ_Q4_1: return 20;
    case SQ_Q5_0: return 22;
    case SQ_Q5_1: return 24;
    case SQ_Q4_K: return 144;
    case SQ_Q5_K: return 176;
    case SQ_Q6_K: return 210;
    default: return 0;
    }
}
