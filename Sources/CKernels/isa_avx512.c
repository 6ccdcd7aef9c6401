// AVX-512 variant of the kernels (Zen 4, Ice Lake and later: F, BW, VL and VNNI). Chosen at run time by
// dispatch.c.
#include "common.h"
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)

#define SQ_FN(name) name##_avx512
#define VW 16
#define TT_MAX 6  // 4 x 6 = 24 accumulators + 4 weights + 1 activation of the 32 zmm registers
#define vf __m512
#define VZERO() _mm512_setzero_ps()
#define VSET1(s) _mm512_set1_ps(s)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps((p), (v))
// bf16 -> f32: zero-extend to 32 bits and shift into the top half (exact).
#define VLOAD_BF16(p) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define VLOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VDIV(a, b) _mm512_div_ps((a), (b))
#define VLOAD_I8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#define SQ_F16S(h) _cvtsh_ss((unsigned short)(h))
#define vi __m512i
#define VI_LOAD_U8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p)))
#define VI_SET1(i) _mm512_set1_epi32(i)
#define VI_IOTA() _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define VI_ADD(a, b) _mm512_add_epi32((a), (b))
#define VI_SRL(v, n) _mm512_srli_epi32((v), (n))
#define VI_SLL(v, n) _mm512_slli_epi32((v), (n))
#define VI_SRLV(v, n) _mm512_srlv_epi32((v), (n))
#define VI_AND(v, m) _mm512_and_si512((v), _mm512_set1_epi32(m))
#define VI_OR(a, b) _mm512_or_si512((a), (b))
#define VI_TO_F(v) _mm512_cvtepi32_ps(v)
#define VREDUCE_ADD(v) _mm512_reduce_add_ps(v)
#define VEXP(v) sq_exp_avx512(v)
#define VREDUCE4(a, b, c, d, out) sq_reduce4_avx512((a), (b), (c), (d), (out))
#define VABS(v) _mm512_abs_ps(v)
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VREDUCE_MAX(v) _mm512_reduce_max_ps(v)
#define VCVT_RNE(v) _mm512_cvtps_epi32(v)  // MXCSR rounding: nearest even
#define VI_STORE_I8(p, v) _mm_storeu_si128((__m128i *)(p), _mm512_cvtsepi32_epi8(v))
#define VI_REDUCE_ADD(v) _mm512_reduce_add_epi32(v)
// int8 dot products: one vpdpbusd (unsigned x signed bytes, four products per int32 lane). Signed
// weights go through |w| and a * sign(w), which leaves each product unchanged.
#define SQ_I8_DOTU(w, a) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (w), (a))
#define SQ_I8_DOTS(w, a) _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8((a), (w)))
#define SQ_I8_BITS32(u) _mm256_movm_epi8((__mmask32)(u))
#include "int8_ymm.h"
#define SQ_I8_ZMM 1  // quant_int8_template.h: the token-grouped zmm path for several tokens

// out = {sum a, sum b, sum c, sum d}: pairwise unpack/shuffle adds inside each 128-bit block, then the four
// blocks added. (Only AVX512F extracts: the variant does not require AVX512DQ.)
static inline void sq_reduce4_avx512(__m512 a, __m512 b, __m512 c, __m512 d, float *out) {
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));  // a02 b02 a13 b13
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    const __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));  // a b c d
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

// e^x: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2 so r is exact), e^r by its degree-7
// Taylor polynomial (truncation < 5e-9 relative), then 2^n applied as two factors 2^n1 * 2^n2 so results
// that overflow become inf and those that underflow become correctly rounded subnormals or 0.
static inline __m512 sq_exp_avx512(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-110.0f), x);  // operand order keeps a NaN x
    x = _mm512_min_ps(_mm512_set1_ps(88.9f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512i ni = _mm512_cvtps_epi32(n);
    const __m512i n1 = _mm512_srai_epi32(ni, 1);
    const __m512i n2 = _mm512_sub_epi32(ni, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

#define SQ_GEMM_F 1  // prefill (F32/F16/BF16) from SQ_GEMM_F_MIN_TOKENS tokens: gemm_avx512.c
#include "kernels_template.h"
#include "attention_template.h"
#define SQ_BQR 8  // attention_blocked_template.h: 8 rows x 2 vectors of scores = 16 accumulators
#include "attention_blocked_template.h"

#pragma clang attribute pop
