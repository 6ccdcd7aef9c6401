// Table lookups indexed by the f16 rounding of f32 values (ggml's FP16 GELU tables, see
// GGMLActivations.swift), with the AVX-512 / AVX2 variants picked like the other kernels.
#include "common.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Round to nearest even, as Swift's Float16(Float) and vcvtps2ph with _MM_FROUND_TO_NEAREST_INT.
static inline uint16_t sq_f16_bits(float v) {
    const _Float16 h = (_Float16)v;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

static void sq_f16_table_scalar(const float *table, float *x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        if (v <= lo) x[i] = 0.0f;
        else if (v < hi) x[i] = table[sq_f16_bits(v)];
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
static void sq_f16_table_avx512(const float *table, float *x, int64_t n, float lo, float hi) {
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512 t = _mm512_i32gather_ps(_mm512_cvtepu16_epi32(h), table, 4);
        // Ordered compares: a NaN x (or a NaN bound) is in neither range and stays as it is.
        const __mmask16 zero = _mm512_cmp_ps_mask(v, vlo, _CMP_LE_OQ);
        const __mmask16 mid = _mm512_cmp_ps_mask(v, vhi, _CMP_LT_OQ) & (__mmask16)~zero;
        __m512 r = _mm512_mask_mov_ps(v, mid, t);
        r = _mm512_mask_mov_ps(r, zero, _mm512_setzero_ps());
        _mm512_storeu_ps(x + i, r);
    }
    sq_f16_table_scalar(table, x + i, n - i, lo, hi);
}

__attribute__((target("avx2,fma,f16c")))
static void sq_f16_table_avx2(const float *table, float *x, int64_t n, float lo, float hi) {
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 t = _mm256_i32gather_ps(table, _mm256_cvtepu16_epi32(h), 4);
        const __m256 zero = _mm256_cmp_ps(v, vlo, _CMP_LE_OQ);
        const __m256 mid = _mm256_andnot_ps(zero, _mm256_cmp_ps(v, vhi, _CMP_LT_OQ));
        __m256 r = _mm256_blendv_ps(v, t, mid);
        r = _mm256_andnot_ps(zero, r);
        _mm256_storeu_ps(x + i, r);
    }
    sq_f16_table_scalar(table, x + i, n - i, lo, hi);
}
#endif

void sq_f16_table(const float *table, float *x, int64_t n, float lo, float hi) {
    if (n <= 0) return;
#if defined(__x86_64__) || defined(__i386__)
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_f16_table_avx512(table, x, n, lo, hi); return;
    case SQ_ISA_AVX2: sq_f16_table_avx2(table, x, n, lo, hi); return;
    default: break;
    }
#endif
    sq_f16_table_scalar(table, x, n, lo, hi);
}
