// Q8_0 / Q4_0 rows repacked 16 at a time for decode at the memory's speed with AVX-512 VNNI (as
// llama.cpp repacks Q4_0 into its 8x8 interleaved blocks on x86).
//
// Why: in the row-major GGUF layout every 32-element block carries its own f16 scale, so a kernel walking
// one row pays per block a scalar scale convert, a broadcast and a product (Q8_0 also |w| and sign(a, w),
// since vpdpbusd multiplies unsigned by signed bytes): measured on one Emerald Rapids core, Q4_0 and
// Q8_0 decode ran at 6-7 GB/s against 12 GB/s of read bandwidth. Here 16 rows are interleaved so that the
// 32-bit lane l of every vector belongs to row l: a block column of 16 rows is 8 (Q8_0) or 4 (Q4_0)
// vectors, each multiplied by one activation dword broadcast from memory (vpdpbusd's embedded
// broadcast), and the 16 rows' scales are one vector. No horizontal sums, no shuffles, and the same
// weight vectors serve up to 4 tokens (compare lanes, prefill) from registers.
//
// Layout: for each group of 16 rows (g) and block column (b), one unit of 32 + 16 * bq bytes (bq = 32
// for Q8_0, 16 for Q4_0; 544 and 288 bytes: exactly the 16 blocks it replaces), units in (g, b) order:
//   bytes 0-31: the 16 rows' f16 scales d, row l at 2l;
//   then for k = 0 ..< bq / 4, 64 bytes: dword l = quant bytes 4k ..< 4k + 4 of row l's block.
// Q8_0 quants are stored as unsigned w + 128 (w ^ 0x80) and Q4_0 bytes as they are (nibbles w + 8, the
// low nibble element i, the high element i + 16), so each lane's integer dot product is the block's plus
// off * sum(a) over the lane's activations; the accumulator starts at -off * sum(a), which the int8
// activation buffer already holds per token and block (its token groups), so the correction is exact.
#include "common.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SQ_P16_X86 1
#endif

// Software prefetch distance (bytes ahead in the packed units). Measured on one Emerald Rapids core with
// the Qwen2-0.5B-shaped bench model (single stream / 4 lockstep sequences, tokens/s): none 28.6 / 78.5 (Q4_0)
// and 22.6 / 58.7 (Q8_0); 1 KB 27.1 / 95.1 and 22.4 / 70.8; 4 KB 30.9 / 110.5 and 23.3 / 73.3; 8 KB
// 32.9 / 100.7 and 20.5 / 68.8 (noisy: another job ran on the other core). The hardware prefetcher alone
// leaves the loads waiting, most of all when 4 tokens share each weight vector.
#ifndef SQ_P16_PREFETCH
#define SQ_P16_PREFETCH 4096
#endif

typedef int32_t sq_i32a __attribute__((may_alias));  // activation quants read 4 at a time

int sq_pack16_supported(int dtype, int64_t rows, int64_t cols) {
    return (dtype == SQ_Q8_0 || dtype == SQ_Q4_0) && rows > 0 && rows % 16 == 0 && cols > 0 && cols % 32 == 0;
}

static int64_t sq_p16_unit(int dtype) { return dtype == SQ_Q8_0 ? 544 : 288; }

int64_t sq_pack16_bytes(int dtype, int64_t rows, int64_t cols) {
    return rows / 16 * (cols / 32) * sq_p16_unit(dtype);
}

void sq_pack16(int dtype, const void *W, void *P, int64_t cols, int64_t g0, int64_t g1) {
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, bb = q8 ? 34 : 18, bq = q8 ? 32 : 16, unit = sq_p16_unit(dtype);
    const uint8_t *w = (const uint8_t *)W;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *u = (uint8_t *)P + (g * nb + b) * unit;
            for (int l = 0; l < 16; l++) {
                const uint8_t *blk = w + ((16 * g + l) * nb + b) * bb;
                memcpy(u + 2 * l, blk, 2);
                for (int64_t k = 0; k < bq / 4; k++)
                    for (int e = 0; e < 4; e++) u[32 + 64 * k + 4 * l + e] = blk[2 + 4 * k + e] ^ (q8 ? 0x80 : 0);
            }
        }
}

void sq_pack16_row(int dtype, const void *P, int64_t cols, int64_t r, float *out) {
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, unit = sq_p16_unit(dtype), g = r / 16, l = r % 16;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = (const uint8_t *)P + (g * nb + b) * unit;
        const float d = sq_f16_to_f32(sq_le16(u + 2 * l));
        float *y = out + 32 * b;
        for (int k = 0; k < (q8 ? 8 : 4); k++)
            for (int e = 0; e < 4; e++) {
                const uint8_t byte = u[32 + 64 * k + 4 * l + e];
                if (q8) {
                    y[4 * k + e] = (float)(int8_t)(byte ^ 0x80) * d;
                } else {  // as quant.c's sq_deq_q4_0, so the values are bit-identical
                    y[4 * k + e] = d * (float)((byte & 0x0F) - 8);
                    y[16 + 4 * k + e] = d * (float)((byte >> 4) - 8);
                }
            }
    }
}

// -sum(q) of token t's block b, from the activation buffer's 4-token groups (quant_int8_template.h).
static inline int32_t sq_p16_negsum(sq_actp a, int64_t nb, int64_t t, int64_t b) {
    int32_t v;
    memcpy(&v, a.g4 + ((t / 4) * nb + b) * SQ_G4_BYTES + 128 + 4 * (t % 4), 4);
    return v;
}

// MARK: Portable twin (any ISA; what the tests hold the AVX-512 kernel to)

static void sq_matmul_pack16_scalar(int dtype, const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols,
                                    int64_t ldy, int64_t g0, int64_t g1) {
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, unit = sq_p16_unit(dtype);
    for (int64_t t = 0; t < n; t++)
        for (int64_t g = g0; g < g1; g++) {
            float acc[16] = {0};
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = P + (g * nb + b) * unit;
                const int8_t *q = a.q + t * cols + 32 * b;
                const int32_t start = (q8 ? 128 : 8) * sq_p16_negsum(a, nb, t, b);
                for (int l = 0; l < 16; l++) {
                    int32_t dot = start;
                    if (q8) {
                        for (int k = 0; k < 8; k++)
                            for (int e = 0; e < 4; e++) dot += (int32_t)u[32 + 64 * k + 4 * l + e] * q[4 * k + e];
                    } else {
                        for (int k = 0; k < 4; k++)
                            for (int e = 0; e < 4; e++) {
                                const uint8_t byte = u[32 + 64 * k + 4 * l + e];
                                dot += (int32_t)(byte & 15) * q[4 * k + e] + (int32_t)(byte >> 4) * q[16 + 4 * k + e];
                            }
                    }
                    const float dw = sq_f16_to_f32(sq_le16(u + 2 * l));
                    acc[l] = fmaf((float)dot, dw * a.d[t * nb + b], acc[l]);
                }
            }
            for (int l = 0; l < 16; l++) Y[t * ldy + 16 * g + l] = acc[l];
        }
}

// MARK: AVX-512 VNNI

#ifdef SQ_P16_X86
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)

// One group of 16 rows (its units at u0) for tokens t0 ..< t0 + nt (nt <= 4, a constant after inlining):
// Y[t, row0 ..< row0 + 16].
static inline __attribute__((always_inline)) void p16_group_avx512(const int q8, const int nt, const uint8_t *u0,
                                                                   sq_actp a, int64_t nb, int64_t cols, int64_t t0,
                                                                   float *Y, int64_t ldy, int64_t row0) {
    const int64_t unit = q8 ? 544 : 288;
    const int32_t off = q8 ? 128 : 8;
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512 acc[4];
    for (int j = 0; j < nt; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = u0 + b * unit;
#if SQ_P16_PREFETCH
        for (int64_t o = 0; o < unit; o += 64) _mm_prefetch((const char *)(u + SQ_P16_PREFETCH + o), _MM_HINT_T0);
#endif
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)u));
        __m512i i0[4], i1[4];
        const sq_i32a *qa[4];
        for (int j = 0; j < nt; j++) {
            qa[j] = (const sq_i32a *)(a.q + (t0 + j) * cols + 32 * b);
            i0[j] = _mm512_set1_epi32(off * sq_p16_negsum(a, nb, t0 + j, b));
            i1[j] = _mm512_setzero_si512();
        }
        if (q8) {
            for (int k = 0; k < 8; k += 2) {
                const __m512i w0 = _mm512_loadu_si512((const void *)(u + 32 + 64 * k));
                const __m512i w1 = _mm512_loadu_si512((const void *)(u + 96 + 64 * k));
                for (int j = 0; j < nt; j++) {
                    i0[j] = _mm512_dpbusd_epi32(i0[j], w0, _mm512_set1_epi32(qa[j][k]));
                    i1[j] = _mm512_dpbusd_epi32(i1[j], w1, _mm512_set1_epi32(qa[j][k + 1]));
                }
            }
        } else {
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_loadu_si512((const void *)(u + 32 + 64 * k));
                const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
                for (int j = 0; j < nt; j++) {
                    i0[j] = _mm512_dpbusd_epi32(i0[j], lo, _mm512_set1_epi32(qa[j][k]));
                    i1[j] = _mm512_dpbusd_epi32(i1[j], hi, _mm512_set1_epi32(qa[j][4 + k]));
                }
            }
        }
        for (int j = 0; j < nt; j++) {
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a.d[(t0 + j) * nb + b]));
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0[j], i1[j])), scale, acc[j]);
        }
    }
    for (int j = 0; j < nt; j++) _mm512_storeu_ps(Y + (t0 + j) * ldy + row0, acc[j]);
}

static void sq_matmul_pack16_avx512(int dtype, const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols,
                                    int64_t ldy, int64_t g0, int64_t g1) {
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, group_bytes = nb * (q8 ? 544 : 288);
    // Tokens in blocks whose int8 activations stay in L2 (~256 KB), every group of rows swept by each
    // block in steps of 4 tokens: a group (16 rows) is read from memory once per block and from L1 by the
    // block's later steps.
    int64_t tb = (256 * 1024) / cols;
    tb = tb < 4 ? 4 : tb / 4 * 4;
#define SQ_P16_STEP(nt) \
    (q8 ? p16_group_avx512(1, (nt), u, a, nb, cols, t, Y, ldy, 16 * g) : p16_group_avx512(0, (nt), u, a, nb, cols, t, Y, ldy, 16 * g))
    for (int64_t b0 = 0; b0 < n; b0 += tb) {
        const int64_t b1 = b0 + tb < n ? b0 + tb : n;
        for (int64_t g = g0; g < g1; g++) {
            const uint8_t *u = P + g * group_bytes;
            int64_t t = b0;
            for (; t + 4 <= b1; t += 4) SQ_P16_STEP(4);
            switch (b1 - t) {
            case 1: SQ_P16_STEP(1); break;
            case 2: SQ_P16_STEP(2); break;
            case 3: SQ_P16_STEP(3); break;
            default: break;
            }
        }
    }
#undef SQ_P16_STEP
}

#pragma clang attribute pop
#endif

void sq_matmul_pack16(int dtype, const void *P, const void *act, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t g0, int64_t g1) {
    if (n <= 0 || g1 <= g0 || (dtype != SQ_Q8_0 && dtype != SQ_Q4_0) || cols % 32 != 0) return;
    const sq_actp a = sq_act_parts((void *)act, n, cols);
#ifdef SQ_P16_X86
    if (sq_get_isa() == SQ_ISA_AVX512) {
        sq_matmul_pack16_avx512(dtype, (const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
        return;
    }
#endif
    sq_matmul_pack16_scalar(dtype, (const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
}

int sq_pack16_preferred(int dtype, int64_t rows, int64_t cols) {
    return sq_pack16_supported(dtype, rows, cols) && sq_get_isa() == SQ_ISA_AVX512;
}
