// AVX2 + FMA + F16C variant of the kernels (Haswell / Zen 1 and later). Chosen at run time by dispatch.c.
#include "common.h"
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define SQ_FN(name) name##_avx2
#define VW 8
#define TT_MAX 2  // 4 x 2 = 8 accumulators + 4 weights + 1 activation of the 16 ymm registers
#define vf __m256
#define VZERO() _mm256_setzero_ps()
#define VSET1(s) _mm256_set1_ps(s)
#define VLOADU(p) _mm256_loadu_ps(p)
#define VSTOREU(p, v) _mm256_storeu_ps((p), (v))
#define VLOAD_BF16(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define VLOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VDIV(a, b) _mm256_div_ps((a), (b))
#define VLOAD_I8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define SQ_F16S(h) _cvtsh_ss((unsigned short)(h))
#define vi __m256i
#define VI_LOAD_U8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p)))
#define VI_SET1(i) _mm256_set1_epi32(i)
#define VI_IOTA() _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define VI_ADD(a, b) _mm256_add_epi32((a), (b))
#define VI_SRL(v, n) _mm256_srli_epi32((v), (n))
#define VI_SLL(v, n) _mm256_slli_epi32((v), (n))
#define VI_SRLV(v, n) _mm256_srlv_epi32((v), (n))
#define VI_AND(v, m) _mm256_and_si256((v), _mm256_set1_epi32(m))
#define VI_OR(a, b) _mm256_or_si256((a), (b))
#define VI_TO_F(v) _mm256_cvtepi32_ps(v)
#define VREDUCE_ADD(v) sq_hsum_avx2(v)
#define VEXP(v) sq_exp_avx2(v)
#define VREDUCE4(a, b, c, d, out) sq_reduce4_avx2((a), (b), (c), (d), (out))
#define VABS(v) _mm256_and_ps((v), _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VREDUCE_MAX(v) sq_hmax_avx2(v)
#define VCVT_RNE(v) _mm256_cvtps_epi32(v)  // MXCSR rounding: nearest even
#define VI_STORE_I8(p, v) sq_store_i8_avx2((p), (v))
#define VI_REDUCE_ADD(v) sq_hsum_i32_avx2(v)
// int8 dot products: pmaddubsw (unsigned x signed bytes, pairs summed into int16; |w| <= 128 and
// |a| <= 127 keep a pair within int16) then pmaddwd by ones (pairs of pairs into int32).
#define SQ_I8_DOTU(w, a) _mm256_madd_epi16(_mm256_maddubs_epi16((w), (a)), _mm256_set1_epi16(1))
#define SQ_I8_DOTS(w, a) SQ_I8_DOTU(_mm256_abs_epi8(w), _mm256_sign_epi8((a), (w)))
#define SQ_I8_BITS32(u) sq_bits32_avx2(u)
#include "int8_ymm.h"

static inline float sq_hmax_avx2(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t sq_hsum_i32_avx2(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// Eight int32 in [-128, 127] stored as bytes (saturating packs; the values fit, so nothing saturates).
static inline void sq_store_i8_avx2(int8_t *p, __m256i v) {
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packs_epi16(w16, w16));
}

// 0xFF in byte j where bit j of u is set: byte j takes source byte j / 8 of u, keeps only its bit j % 8,
// and compares equal to that bit.
static inline __m256i sq_bits32_avx2(uint32_t u) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    // vpshufb shuffles within 128-bit halves: the high half's indices 2 and 3 read bytes 2 and 3 of the
    // broadcast u32, which sits in both halves.
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)u), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

// out = {sum a, sum b, sum c, sum d} by three horizontal adds and one cross-lane add.
static inline void sq_reduce4_avx2(__m256 a, __m256 b, __m256 c, __m256 d, float *out) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
}

static inline float sq_hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// e^x, same method as sq_exp_avx512 (see there).
static inline __m256 sq_exp_avx2(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-110.0f), x);
    x = _mm256_min_ps(_mm256_set1_ps(88.9f), x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

#include "kernels_template.h"
#include "attention_template.h"
#define SQ_BQR 4  // attention_blocked_template.h: 4 rows x 2 vectors of scores = 8 accumulators
#include "attention_blocked_template.h"

#pragma clang attribute pop
