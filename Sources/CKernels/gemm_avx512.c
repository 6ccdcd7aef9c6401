// Prefill matmul for F32 / F16 / BF16 weights on AVX-512: an outer-product register tile over packed
// weight panels, the layout of BLIS-style GEMMs.
//
// Why: the dot-product tile of kernels_template.h (4 rows x 6 tokens, lanes along the columns) loads six
// activation vectors per 24 FMAs from L2 and ends every tile with horizontal sums; measured on Emerald
// Rapids it ran the Qwen2-0.5B F16 prefill at ~53% of the FMA peak. Here the lanes run along the rows:
// a block of 32 rows x KC columns is widened to f32 and transposed once into a panel Wp[k][32] (L1), and
// the micro-kernel keeps 32 rows x 14 tokens of sums in 28 registers; per column k it loads two weight
// vectors and broadcasts each token's x[t][k] from memory (an FMA operand), so 28 FMAs cost 16 loads of
// which 14 are 4-byte broadcasts, no shuffles at all, and the sums are stored as whole row vectors of Y.
//
// Summation order: each output is one sequential f32 chain over the columns of a KC block, the blocks
// added into Y in order. Deterministic, and independent of the thread split and of the token count.
#include "common.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))), apply_to = function)

#define GM_MR 32  // rows per micro-tile (two vectors)
#define GM_NR 14  // tokens per micro-tile: 28 accumulators + 2 weight vectors of the 32 registers
#ifndef SQ_GEMM_KC
#define SQ_GEMM_KC 256  // columns per block: the 32 KB panel stays in L1 across a row block's token tiles
#endif
#ifndef SQ_GEMM_NC
#define SQ_GEMM_NC 480  // tokens per block: their KC-column slice (<= 480 KB) stays in L2 across row blocks
#endif

// 16 rows of 16 columns (r[i] = row i) -> r[c] = column c of the 16 rows.
static inline void gm_transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);      // per 128-bit lane L: a[4L] b[4L] a[4L+1] b[4L+1]
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);  // a[4L+2] b[4L+2] a[4L+3] b[4L+3]
    }
    for (int i = 0; i < 16; i += 4) {  // u[4g + c], lane L: column 4L + c of rows 4g ..< 4g + 4
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);       // g0.L0 g0.L2 g1.L0 g1.L2
        t[4 + c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);   // g0.L1 g0.L3 g1.L1 g1.L3
        t[8 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
    }
}

// Up to 16 elements of a weight row from column c, widened (mask: the valid ones; the rest are 0).
static inline __m512 gm_load(int dt, const char *row, int64_t c, __mmask16 m) {
    if (dt == SQ_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + c);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c);
    if (dt == SQ_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// Wp[k][i] = W[r + i][k0 + k] for k < kc, i < 32; rows at or past nr read as 0.
static void gm_pack(int dt, const char *W, size_t row_bytes, int64_t nr, int64_t k0, int64_t kc, float *Wp) {
    for (int g = 0; g < 2; g++) {
        for (int64_t k = 0; k < kc; k += 16) {
            const int64_t nk = kc - k < 16 ? kc - k : 16;
            const __mmask16 mk = (__mmask16)((1u << nk) - 1);
            __m512 v[16];
            for (int i = 0; i < 16; i++) {
                const int64_t r = g * 16 + i;
                v[i] = r < nr ? gm_load(dt, W + (size_t)r * row_bytes, k0 + k, mk) : _mm512_setzero_ps();
            }
            gm_transpose16(v);
            for (int64_t c = 0; c < nk; c++) _mm512_store_ps(Wp + (k + c) * GM_MR + g * 16, v[c]);
        }
    }
}

// Y[t][0 ..< 32] (+)= sum_k Wp[k][.] * X[t][k] for t < NR (a compile-time constant after inlining); m0 / m1
// mask the rows that exist.
static inline __attribute__((always_inline)) void gm_micro(const int nr, const float *Wp, const float *X, int64_t ldx,
                                                          int64_t kc, float *Y, int64_t ldy, int accumulate,
                                                          __mmask16 m0, __mmask16 m1) {
    __m512 c0[GM_NR], c1[GM_NR];
    for (int j = 0; j < nr; j++) c0[j] = c1[j] = _mm512_setzero_ps();
    const float *x = X;
    for (int64_t k = 0; k < kc; k++, x++) {
        const __m512 w0 = _mm512_load_ps(Wp + k * GM_MR), w1 = _mm512_load_ps(Wp + k * GM_MR + 16);
        for (int j = 0; j < nr; j++) {
            const __m512 b = _mm512_set1_ps(x[j * ldx]);
            c0[j] = _mm512_fmadd_ps(w0, b, c0[j]);
            c1[j] = _mm512_fmadd_ps(w1, b, c1[j]);
        }
    }
    for (int j = 0; j < nr; j++) {
        float *y = Y + j * ldy;
        if (accumulate) {
            c0[j] = _mm512_add_ps(c0[j], _mm512_maskz_loadu_ps(m0, y));
            c1[j] = _mm512_add_ps(c1[j], _mm512_maskz_loadu_ps(m1, y + 16));
        }
        _mm512_mask_storeu_ps(y, m0, c0[j]);
        _mm512_mask_storeu_ps(y + 16, m1, c1[j]);
    }
}

static void gm_micro_n(int64_t nr, const float *Wp, const float *X, int64_t ldx, int64_t kc, float *Y, int64_t ldy,
                       int accumulate, __mmask16 m0, __mmask16 m1) {
    switch (nr) {
#define GM_CASE(n) \
    case n: gm_micro(n, Wp, X, ldx, kc, Y, ldy, accumulate, m0, m1); break;
    GM_CASE(1) GM_CASE(2) GM_CASE(3) GM_CASE(4) GM_CASE(5) GM_CASE(6) GM_CASE(7)
    GM_CASE(8) GM_CASE(9) GM_CASE(10) GM_CASE(11) GM_CASE(12) GM_CASE(13) GM_CASE(14)
#undef GM_CASE
    default: break;
    }
}

void sq_gemm_f_avx512(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t r0, int64_t r1) {
    const int64_t es = dt == SQ_F32 ? 4 : 2;
    const size_t row_bytes = (size_t)cols * es;
    float *Wp = (float *)aligned_alloc(64, (size_t)SQ_GEMM_KC * GM_MR * sizeof(float));
    if (Wp == NULL) abort();
    for (int64_t t0 = 0; t0 < n; t0 += SQ_GEMM_NC) {
        const int64_t t1 = t0 + SQ_GEMM_NC < n ? t0 + SQ_GEMM_NC : n;
        for (int64_t k0 = 0; k0 < cols; k0 += SQ_GEMM_KC) {
            const int64_t kc = cols - k0 < SQ_GEMM_KC ? cols - k0 : SQ_GEMM_KC;
            for (int64_t r = r0; r < r1; r += GM_MR) {
                const int64_t nr = r1 - r < GM_MR ? r1 - r : GM_MR;
                gm_pack(dt, (const char *)W + (size_t)r * row_bytes, row_bytes, nr, k0, kc, Wp);
                const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
                const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
                // The next panel's weight bytes are prefetched into L2 a share per token tile: packing
                // otherwise waits on memory for 32 rows read 16 at a time (measured on Emerald Rapids, one
                // thread, weights not in L3, 128 tokens: 4864x896 118 -> 127 GF/s, 896x4864 128 -> 136; noisy).
                int64_t pr = r + GM_MR, pk = k0;
                if (pr >= r1) { pr = r0; pk = k0 + SQ_GEMM_KC; }
                if (pk >= cols) { pk = 0; if (t1 >= n) pr = r1; }
                const int64_t pnr = r1 - pr < GM_MR ? r1 - pr : GM_MR;
                const int64_t pkc = cols - pk < SQ_GEMM_KC ? cols - pk : SQ_GEMM_KC;
                const int64_t lines = ((pkc * es + 63) >> 6) + 1, total = pnr > 0 ? pnr * lines : 0;
                const int64_t tiles = (t1 - t0 + GM_NR - 1) / GM_NR, per = (total + tiles - 1) / tiles;
                const char *pbase = (const char *)W + (size_t)pr * row_bytes + pk * es;
                int64_t pi = 0;
                int64_t t = t0;
                for (; t < t1; t += GM_NR) {
                    for (const int64_t pe = pi + per < total ? pi + per : total; pi < pe; pi++)
                        _mm_prefetch(pbase + (size_t)(pi / lines) * row_bytes + (pi % lines) * 64, _MM_HINT_T1);
                    if (t + GM_NR <= t1)
                        gm_micro(GM_NR, Wp, X + t * cols + k0, cols, kc, Y + t * ldy + r, ldy, k0 > 0, m0, m1);
                    else
                        gm_micro_n(t1 - t, Wp, X + t * cols + k0, cols, kc, Y + t * ldy + r, ldy, k0 > 0, m0, m1);
                }
            }
        }
    }
    free(Wp);
}

#pragma clang attribute pop
#endif
