// Matmul over GGML block-quantized weights with int8 activations, as llama.cpp computes it (included by
// kernels_template.h once per ISA; the int8 vocabulary q8v/i8x/f8x/Q_*/F8_* comes from int8_ymm.h or
// int8_scalar.h, the activation quantizer uses the float vocabulary of kernels_template.h plus VABS,
// VMAX, VREDUCE_MAX, VCVT_RNE, VI_STORE_I8 and VI_REDUCE_ADD).
//
// Why: with f32 activations every weight is widened to f32 and FMA'd, which makes decode compute bound on
// a 2-core machine. Quantizing each activation row once per matmul into blocks of 32 int8 with one f32
// scale (d = max|x| / 127, q = round-to-nearest-even(x / d)) turns each block's dot product into one
// integer instruction (vpdpbusd with AVX-512 VNNI, pmaddubsw + pmaddwd with AVX2) plus one FMA of the
// block's two scales. The integer part is exact; the activation rounding (|x - d q| <= d / 2) is the
// only new error, as in llama.cpp, whose Q8_0/Q8_1/Q8_K activations round the same way.
//
// Activation buffer (sq_act_parts): int8 q[n][cols], float d[n][cols / 32], float s[n][cols / 32] with
// s = d * sum(q) (the block sum the Q4_1/Q5_1/K-quant minimums multiply), int32 s16[n][cols / 16] (the
// sums of each half block, for pack16.c's Q6_K sub-blocks of 16), then the same quants in groups
// of 4 tokens for the AVX-512 several-token kernel (written by every ISA's quantizer: the layout is one).

// MARK: Activation quantization

// Token j (0-3) of a 4-token group's block (SQ_G4_BYTES, layout at i8_g4_tile): quants q (NULL: zeros)
// interleaved by dword into two 64-byte halves, -sum(q) and d in lane j of the two following vectors.
SQ_ALWAYS_INLINE void SQ_FN(i8_group_put)(uint8_t *o, int j, const int8_t *q, int32_t neg_sum, float d) {
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++) {
            if (q != NULL) memcpy(o + 64 * h + 16 * k + 4 * j, q + 16 * h + 4 * k, 4);
            else memset(o + 64 * h + 16 * k + 4 * j, 0, 4);
        }
    for (int k = 0; k < 16; k += 4) {  // the start vector: lanes 4k + j for k > 0 stay 0
        const int32_t v = k == 0 ? neg_sum : 0;
        memcpy(o + 128 + 4 * (k + j), &v, 4);
    }
    memcpy(o + 192 + 4 * j, &d, 4);
}

#include "quant_int8_chunks.h"

// Rows [t0, t1) of X [n, cols] into the buffer. Identical bits on every ISA: the max is exact, d and
// 127 / max are single IEEE operations, x * id is one product, and the rounding is to nearest even.
void SQ_FN(sq_quantize_act)(const float *X, int64_t n, int64_t cols, void *buf, int64_t t0, int64_t t1) {
    const sq_actp a = sq_act_parts(buf, n, cols);
    const int64_t nb = cols / 32;
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *x = X + t * cols + 32 * b;
            vf m = VZERO();
            for (int e = 0; e < 32; e += VW) m = VMAX(m, VABS(VLOADU(x + e)));
            const float amax = VREDUCE_MAX(m);
            const float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
            const vf vid = VSET1(id);
            int8_t *q = a.q + t * cols + 32 * b;
            vi sum_lo = VI_SET1(0), sum_hi = VI_SET1(0);  // quants 0-15 and 16-31
            for (int e = 0; e < 32; e += VW) {
                const vi r = VCVT_RNE(VMUL(VLOADU(x + e), vid));
                VI_STORE_I8(q + e, r);
                if (e < 16) sum_lo = VI_ADD(sum_lo, r);
                else sum_hi = VI_ADD(sum_hi, r);
            }
            const int32_t slo = VI_REDUCE_ADD(sum_lo), shi = VI_REDUCE_ADD(sum_hi), isum = slo + shi;
            a.s16[2 * (t * nb + b)] = slo;
            a.s16[2 * (t * nb + b) + 1] = shi;
            a.d[t * nb + b] = d;
            a.s[t * nb + b] = d * (float)isum;
            SQ_FN(i8_group_put)(a.g4 + ((t / 4) * nb + b) * SQ_G4_BYTES, (int)(t % 4), q, -isum, d);
        }
        // Only rows the one-token chunk kernel takes (sq_matmul_q8act): the layout costs ~1 us per 1000
        // columns, which the 896-column matmuls of a small model would pay ~150 times a token for nothing.
        if (a.c4 != NULL && cols >= SQ_C4_MIN_COLS) SQ_FN(i8_c4_put)(a.c4, a.q, a.d, cols);
        // The last group's missing tokens are zeros (and so contribute nothing).
        if (t == n - 1)
            for (int j = (int)(t % 4) + 1; j < 4; j++)
                for (int64_t b = 0; b < nb; b++)
                    SQ_FN(i8_group_put)(a.g4 + ((t / 4) * nb + b) * SQ_G4_BYTES, j, NULL, 0, 0.0f);
    }
}

// MARK: Dot products

// At most this many tokens share each decoded weight block (accumulators stay in registers).
#define SQ_I8_NT 4

// Software prefetch distance (bytes) of the K-quant rows (Q4_K, Q5_K, Q6_K: the common Q4_K_M / Q5_K_M
// files and the Q6_K output matrix of llama-quantize's Q4_0). Measured on Emerald Rapids, 2 threads,
// Qwen2-1.5B-shaped Q4_0 file (its 191 MB Q6_K output matrix read every token): decode tokens/s
// none 16.6-19.0, 2 KB 20.6-21.9, 4 KB 20.5-21.5, 8 KB 20.9-22.3 (noisy; two runs each).
#ifndef SQ_KQ_PREFETCH
#define SQ_KQ_PREFETCH 4096
#endif
#if SQ_KQ_PREFETCH
#define SQ_KQ_PREFETCH_BLOCK(blk, bytes)                                                        \
    for (int64_t po = 0; po < (bytes); po += 64) __builtin_prefetch((blk) + SQ_KQ_PREFETCH + po)
#else
#define SQ_KQ_PREFETCH_BLOCK(blk, bytes) (void)0
#endif

// Row w (nb32 blocks of 32 elements) dotted with tokens 0 ..< nt of the activations (q, d, s point at
// the first token; ldq = cols, ldb = cols / 32): out[j]. dt and nt are constants after inlining.
SQ_ALWAYS_INLINE void SQ_FN(i8_row)(const int dt, const int nt, const uint8_t *w, const int8_t *q, const float *ad,
                                   const float *as, int64_t ldq, int64_t nb32, float *out) {
    f8x acc[SQ_I8_NT];
    float macc[SQ_I8_NT];  // minimum terms (Q4_1, Q5_1, Q4_K, Q5_K; Q4_0's offset)
    for (int j = 0; j < nt; j++) { acc[j] = F8_ZERO(); macc[j] = 0.0f; }
    // One 32-element block: weight quants wv (signed: DOTS, else DOTU) times scale dsc, plus the min term
    // mn * s when has_min (a constant).
#define SQ_I8_BLOCK_TO(A, wv, is_signed, dsc, has_min, mn, b)                                   \
    do {                                                                                        \
        for (int j = 0; j < nt; j++) {                                                          \
            const q8v av = Q_LOAD(q + j * ldq + 32 * (b));                                      \
            const i8x p = (is_signed) ? Q_DOTS((wv), av) : Q_DOTU((wv), av);                    \
            A[j] = F8_FMA(I_CVT(p), F8_SET1((dsc) * ad[j * nb32 + (b)]), A[j]);                 \
            if (has_min) macc[j] += (mn) * as[j * nb32 + (b)];                                  \
        }                                                                                       \
    } while (0)
#define SQ_I8_BLOCK(wv, is_signed, dsc, has_min, mn, b) SQ_I8_BLOCK_TO(acc, wv, is_signed, dsc, has_min, mn, b)
    // K-quants: one token gets a second accumulator for the odd sub-blocks (two FMA chains: one sub-block's
    // work is about one FMA latency; several tokens are independent chains already), and the super-block
    // SQ_KQ_PREFETCH bytes ahead is prefetched.
    f8x acc2[SQ_I8_NT];
    for (int j = 0; j < nt; j++) acc2[j] = F8_ZERO();
    switch (dt) {
    // Q8_0 and Q4_0 blocks into accumulator A (and M). Q4_0: the raw nibbles (w + 8) as unsigned bytes skip
    // |w| and sign(a, w); the 8 is taken back as a minimum term, -8 dw * s.
#define SQ_I8_Q8_0(b, A, M)                                                                     \
    do {                                                                                        \
        const uint8_t *blk = w + 34 * (b);                                                      \
        const i8x p = Q_DOTS(Q_LOAD(blk + 2), Q_LOAD(q + 32 * (b)));                            \
        A = F8_FMA(I_CVT(p), F8_SET1(SQ_F16S(sq_le16(blk)) * ad[(b)]), A);                      \
    } while (0)
#define SQ_I8_Q4_0(b, A, M)                                                                     \
    do {                                                                                        \
        const uint8_t *blk = w + 18 * (b);                                                      \
        const float dw = SQ_F16S(sq_le16(blk));                                                 \
        const i8x p = Q_DOTU(Q_NIBBLES(blk + 2), Q_LOAD(q + 32 * (b)));                         \
        A = F8_FMA(I_CVT(p), F8_SET1(dw * ad[(b)]), A);                                         \
        M -= 8.0f * dw * as[(b)];                                                               \
    } while (0)
    // Decode (one token): two accumulator chains over even and odd blocks, since one block's work is
    // about one FMA latency and a single chain would bound the loop.
#define SQ_I8_TWO_CHAINS(BODY)                                                                  \
    do {                                                                                        \
        f8x a1 = F8_ZERO();                                                                     \
        float m1 = 0.0f;                                                                        \
        int64_t b = 0;                                                                          \
        for (; b + 2 <= nb32; b += 2) {                                                         \
            BODY(b, acc[0], macc[0]);                                                           \
            BODY(b + 1, a1, m1);                                                                \
        }                                                                                       \
        if (b < nb32) BODY(b, acc[0], macc[0]);                                                 \
        acc[0] = F8_ADD(acc[0], a1);                                                            \
        macc[0] += m1;                                                                          \
    } while (0)
    case SQ_Q8_0:
        if (nt == 1) {
            SQ_I8_TWO_CHAINS(SQ_I8_Q8_0);
            break;
        }
        for (int64_t b = 0; b < nb32; b++) {
            const uint8_t *blk = w + 34 * b;
            const q8v wv = Q_LOAD(blk + 2);
            SQ_I8_BLOCK(wv, 1, SQ_F16S(sq_le16(blk)), 0, 0.0f, b);
        }
        break;
    case SQ_Q4_0:
        if (nt == 1) {
            SQ_I8_TWO_CHAINS(SQ_I8_Q4_0);
            break;
        }
        for (int64_t b = 0; b < nb32; b++) {
            const uint8_t *blk = w + 18 * b;
            const float dw = SQ_F16S(sq_le16(blk));
            SQ_I8_BLOCK(Q_NIBBLES(blk + 2), 0, dw, 1, -8.0f * dw, b);
        }
        break;
    case SQ_Q4_1:
        for (int64_t b = 0; b < nb32; b++) {
            const uint8_t *blk = w + 20 * b;
            const q8v wv = Q_NIBBLES(blk + 4);
            SQ_I8_BLOCK(wv, 0, SQ_F16S(sq_le16(blk)), 1, SQ_F16S(sq_le16(blk + 2)), b);
        }
        break;
    case SQ_Q5_0:
        for (int64_t b = 0; b < nb32; b++) {
            const uint8_t *blk = w + 22 * b;
            const q8v hi = Q_AND(Q_BITS32(sq_le32(blk + 2)), 0x10);
            const q8v wv = Q_SUB(Q_OR(Q_NIBBLES(blk + 6), hi), 16);
            SQ_I8_BLOCK(wv, 1, SQ_F16S(sq_le16(blk)), 0, 0.0f, b);
        }
        break;
    case SQ_Q5_1:
        for (int64_t b = 0; b < nb32; b++) {
            const uint8_t *blk = w + 24 * b;
            const q8v hi = Q_AND(Q_BITS32(sq_le32(blk + 4)), 0x10);
            const q8v wv = Q_OR(Q_NIBBLES(blk + 8), hi);
            SQ_I8_BLOCK(wv, 0, SQ_F16S(sq_le16(blk)), 1, SQ_F16S(sq_le16(blk + 2)), b);
        }
        break;
    case SQ_Q4_K:
    case SQ_Q5_K: {
        // Sub-block s of super-block k is activation block 8k + s; x = (d sc_s) q - dmin m_s.
        const int five = dt == SQ_Q5_K;
        const int64_t bb = five ? 176 : 144;
        for (int64_t k = 0; k < nb32 / 8; k++) {
            const uint8_t *blk = w + bb * k;
            SQ_KQ_PREFETCH_BLOCK(blk, bb);
            const float d = SQ_F16S(sq_le16(blk)), dmin = SQ_F16S(sq_le16(blk + 2));
            const uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
            q8v hbits = Q_LOAD(qh);
#pragma clang loop unroll(full)
            for (int s = 0; s < 8; s++) {
                int sc, mn;
                sq_k_scale_min(blk + 4, s, &sc, &mn);
                q8v wv = Q_SHR_AND(Q_LOAD(qs + 32 * (s >> 1)), 4 * (s & 1), 15);
                if (five) wv = Q_OR(wv, Q_SLL4(Q_SHR_AND(hbits, s, 1)));
                if (nt == 1 && (s & 1)) SQ_I8_BLOCK_TO(acc2, wv, 0, d * (float)sc, 1, -(dmin * (float)mn), 8 * k + s);
                else SQ_I8_BLOCK(wv, 0, d * (float)sc, 1, -(dmin * (float)mn), 8 * k + s);
            }
        }
        break;
    }
    case SQ_Q6_K:
        // Chunk c (elements 32c ..< 32c + 32) is activation block 8k + c; two scales per chunk (16 each).
        for (int64_t k = 0; k < nb32 / 8; k++) {
            const uint8_t *blk = w + 210 * k;
            SQ_KQ_PREFETCH_BLOCK(blk, 210);
            const int8_t *scales = (const int8_t *)(blk + 192);
            const float d = SQ_F16S(sq_le16(blk + 208));
#pragma clang loop unroll(full)
            for (int c = 0; c < 8; c++) {
                const int g = c >> 2, kk = c & 3;
                const q8v lo = Q_SHR_AND(Q_LOAD(blk + 64 * g + 32 * (kk & 1)), 4 * (kk >> 1), 15);
                const q8v hi = Q_SHR_AND(Q_LOAD(blk + 128 + 32 * g), 2 * kk, 3);
                const q8v wv = Q_SUB(Q_OR(lo, Q_SLL4(hi)), 32);
                // The chunk's two half scales once, times each token's activation scale (a broadcast).
                const f8x sc = F8_HALVES(d * (float)scales[2 * c], d * (float)scales[2 * c + 1]);
                const int64_t b = 8 * k + c;
                for (int j = 0; j < nt; j++) {
                    const i8x p = Q_DOTS(wv, Q_LOAD(q + j * ldq + 32 * b));
                    const f8x scale = F8_MUL(sc, F8_SET1(ad[j * nb32 + b]));
                    if (nt == 1 && (c & 1)) acc2[j] = F8_FMA(I_CVT(p), scale, acc2[j]);
                    else acc[j] = F8_FMA(I_CVT(p), scale, acc[j]);
                }
            }
        }
        break;
    default: break;
    }
#undef SQ_I8_BLOCK
#undef SQ_I8_BLOCK_TO
#undef SQ_I8_Q8_0
#undef SQ_I8_Q4_0
#undef SQ_I8_TWO_CHAINS
    for (int j = 0; j < nt; j++) out[j] = F8_REDUCE(F8_ADD(acc[j], acc2[j])) + macc[j];
}

// Rows [r0, r1) for tokens [t0, t0 + nt), nt <= SQ_I8_NT a constant.
SQ_ALWAYS_INLINE void SQ_FN(i8_rows)(const int dt, const int nt, const uint8_t *w8, size_t row_bytes, sq_actp a,
                                    int64_t cols, int64_t t0, float *Y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t nb32 = cols / 32;
    const int8_t *q = a.q + t0 * cols;
    const float *ad = a.d + t0 * nb32, *as = a.s + t0 * nb32;
    for (int64_t r = r0; r < r1; r++) {
        float o[SQ_I8_NT];
        SQ_FN(i8_row)(dt, nt, w8 + (size_t)r * row_bytes, q, ad, as, cols, nb32, o);
        for (int j = 0; j < nt; j++) Y[(t0 + j) * ldy + r] = o[j];
    }
}

SQ_ALWAYS_INLINE void SQ_FN(i8_matmul_dt)(const int dt, const uint8_t *w8, sq_actp a, float *Y, int64_t n,
                                         int64_t cols, int64_t ldy, int64_t r0, int64_t r1) {
    const size_t row_bytes = (size_t)(cols / sq_block_size(dt) * sq_block_bytes(dt));
    // Rows in panels of about L2 size, so that every token group after the first reads them from cache.
    int64_t panel = n <= SQ_I8_NT ? r1 - r0 : (int64_t)((256 * 1024) / row_bytes);
    if (panel < 1) panel = 1;
    for (int64_t p0 = r0; p0 < r1; p0 += panel) {
        const int64_t p1 = p0 + panel < r1 ? p0 + panel : r1;
        int64_t t = 0;
        for (; t + SQ_I8_NT <= n; t += SQ_I8_NT) SQ_FN(i8_rows)(dt, SQ_I8_NT, w8, row_bytes, a, cols, t, Y, ldy, p0, p1);
        switch (n - t) {
        case 1: SQ_FN(i8_rows)(dt, 1, w8, row_bytes, a, cols, t, Y, ldy, p0, p1); break;
        case 2: SQ_FN(i8_rows)(dt, 2, w8, row_bytes, a, cols, t, Y, ldy, p0, p1); break;
        case 3: SQ_FN(i8_rows)(dt, 3, w8, row_bytes, a, cols, t, Y, ldy, p0, p1); break;
        default: break;
        }
    }
}

#ifdef SQ_I8_ZMM
// Several tokens (compare lanes, prefill) of Q8_0 / Q4_0 rows with AVX-512 VNNI. A zmm holds 4 tokens x
// 16 bytes (one half of a block for each token), interleaved by dword: lane 4k + t holds bytes 4k ..< 4k + 4
// of token t's half. The weight half's dword k is spread to lanes 4k ..< 4k + 4 by one permute, so one
// vpdpbusd does 64 multiply-adds for 4 tokens, and the per-block convert and FMA are shared by 4 tokens
// instead of paid per token; two weight rows share every activation load. vpdpbusd takes unsigned x
// signed bytes, so the weights are made unsigned (Q8_0: w + 128 by xor 0x80; Q4_0: its raw nibbles, w + 8),
// which adds off * sum(a) to each block's integer dot; the accumulator starts at -off * sum(a) instead, so
// the correction is exact and costs no float work.
//
// Token-grouped activations (written by the quantizer into the sq_actp buffer): for group g of 4 tokens
// and block b, SQ_G4_BYTES = 208 bytes: two 64-byte halves of interleaved quants, 16 int32 accumulator
// starts (lane t: -sum(q_t), shifted left by log2(off) here; the other lanes 0), then d_0 .. d_3
// (broadcast to the four 128-bit lanes). Missing tokens of the last group are zeros.
// Software prefetch distance (bytes) in the weight rows. Measured on Zen 4 with weights in DRAM, n = 4:
// Q8_0 went from ~7 to ~15 GB/s with it (the hardware prefetcher alone left the loop waiting on memory);
// the one-row decode path streams fast enough without.
#define SQ_G4_PREFETCH 8192

// The two unsigned weight halves of a block, dword k of each spread over lanes 4k ..< 4k + 4.
SQ_ALWAYS_INLINE void SQ_FN(i8_g4_weights)(const int q8, const uint8_t *blk, __m512i *w0, __m512i *w1) {
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    if (q8) {
        const __m512i sign = _mm512_set1_epi8((char)0x80);
        *w0 = _mm512_xor_si512(_mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(blk + 2)))), sign);
        *w1 = _mm512_xor_si512(_mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(blk + 18)))), sign);
    } else {
        const __m512i qs = _mm512_permutexvar_epi32(spread, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(blk + 2))));
        *w0 = _mm512_and_si512(qs, _mm512_set1_epi8(15));
        *w1 = _mm512_and_si512(_mm512_srli_epi16(qs, 4), _mm512_set1_epi8(15));
    }
}

// Rows [r0, r1), token groups [g0, g0 + G) (G <= 4 and R, the rows done together, 1 or 2: constants).
SQ_ALWAYS_INLINE void SQ_FN(i8_g4_tile)(const int dt, const int R, const int G, const uint8_t *w, size_t row_bytes,
                                       const uint8_t *grp, int64_t nb, int64_t n, int64_t g0, float *Y,
                                       int64_t ldy, int64_t r) {
    const int q8 = dt == SQ_Q8_0;
    const int64_t bb = q8 ? 34 : 18;
    __m512 acc[2][4];
    for (int i = 0; i < R; i++)
        for (int g = 0; g < G; g++) acc[i][g] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i w0[2], w1[2];
        __m512 dw[2];
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = w + (size_t)i * row_bytes + bb * b;
            _mm_prefetch((const char *)(blk + SQ_G4_PREFETCH), _MM_HINT_T0);
            SQ_FN(i8_g4_weights)(q8, blk, &w0[i], &w1[i]);
            dw[i] = _mm512_cvtph_ps(_mm256_set1_epi16((short)sq_le16(blk)));
        }
        for (int g = 0; g < G; g++) {
            const uint8_t *o = grp + ((g0 + g) * nb + b) * SQ_G4_BYTES;
            const __m512i a0 = _mm512_loadu_si512((const void *)o), a1 = _mm512_loadu_si512((const void *)(o + 64));
            const __m512i start = _mm512_slli_epi32(_mm512_loadu_si512((const void *)(o + 128)), q8 ? 7 : 3);
            const __m512 d = _mm512_broadcast_f32x4(_mm_loadu_ps((const float *)(o + 192)));
            for (int i = 0; i < R; i++) {
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, w0[i], a0), w1[i], a1);
                acc[i][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[i], d), acc[i][g]);
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int g = 0; g < G; g++) {
            // Lane 4k + t belongs to token t: add the four 128-bit lanes.
            const __m512 v = acc[i][g];
            const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                           _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
            float o4[4];
            _mm_storeu_ps(o4, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
            for (int j = 0; j < 4; j++) {
                const int64_t t = 4 * (g0 + g) + j;
                if (t < n) Y[t * ldy + r + i] = o4[j];
            }
        }
}

SQ_ALWAYS_INLINE void SQ_FN(i8_g4_rows)(const int dt, const int G, const uint8_t *w8, size_t row_bytes,
                                       const uint8_t *grp, int64_t nb, int64_t n, int64_t g0, float *Y,
                                       int64_t ldy, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + 2 <= r1; r += 2) SQ_FN(i8_g4_tile)(dt, 2, G, w8 + (size_t)r * row_bytes, row_bytes, grp, nb, n, g0, Y, ldy, r);
    if (r < r1) SQ_FN(i8_g4_tile)(dt, 1, G, w8 + (size_t)r * row_bytes, row_bytes, grp, nb, n, g0, Y, ldy, r);
}

SQ_ALWAYS_INLINE void SQ_FN(i8_g4_matmul_dt)(const int dt, const uint8_t *w8, const uint8_t *grp, float *Y,
                                            int64_t n, int64_t cols, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t nb = cols / 32, ng = (n + 3) / 4;
    const size_t row_bytes = (size_t)(nb * sq_block_bytes(dt));
    // Rows in panels of about a quarter of the L2, reused by every pass of up to 4 token groups.
    int64_t panel = ng <= 4 ? r1 - r0 : (int64_t)((256 * 1024) / row_bytes);
    if (panel < 2) panel = 2;
    for (int64_t p0 = r0; p0 < r1; p0 += panel) {
        const int64_t p1 = p0 + panel < r1 ? p0 + panel : r1;
        int64_t g = 0;
        for (; g + 4 <= ng; g += 4) SQ_FN(i8_g4_rows)(dt, 4, w8, row_bytes, grp, nb, n, g, Y, ldy, p0, p1);
        switch (ng - g) {
        case 1: SQ_FN(i8_g4_rows)(dt, 1, w8, row_bytes, grp, nb, n, g, Y, ldy, p0, p1); break;
        case 2: SQ_FN(i8_g4_rows)(dt, 2, w8, row_bytes, grp, nb, n, g, Y, ldy, p0, p1); break;
        case 3: SQ_FN(i8_g4_rows)(dt, 3, w8, row_bytes, grp, nb, n, g, Y, ldy, p0, p1); break;
        default: break;
        }
    }
}

// The grouped path for n >= 2 Q8_0 / Q4_0 tokens; returns 0 (nothing done) otherwise.
static int SQ_FN(i8_g4_matmul)(int dt, const void *W, sq_actp a, float *Y, int64_t n, int64_t cols, int64_t ldy,
                               int64_t r0, int64_t r1) {
    if (n < 2 || (dt != SQ_Q8_0 && dt != SQ_Q4_0)) return 0;
    if (dt == SQ_Q8_0) SQ_FN(i8_g4_matmul_dt)(SQ_Q8_0, (const uint8_t *)W, a.g4, Y, n, cols, ldy, r0, r1);
    else SQ_FN(i8_g4_matmul_dt)(SQ_Q4_0, (const uint8_t *)W, a.g4, Y, n, cols, ldy, r0, r1);
    return 1;
}
#endif

// Y[t, r] for rows [r0, r1) from activations quantized by sq_quantize_act (n rows of cols).
void SQ_FN(sq_matmul_q8act)(int dt, const void *W, const void *act, float *Y, int64_t n, int64_t cols,
                            int64_t ldy, int64_t r0, int64_t r1) {
    const sq_actp a = sq_act_parts((void *)act, n, cols);
    const uint8_t *w8 = (const uint8_t *)W;
#ifdef SQ_I8_ZMM
    if (SQ_FN(i8_g4_matmul)(dt, W, a, Y, n, cols, ldy, r0, r1)) return;
    // Only long rows: with rows of 896 columns (504 bytes, a stride break every 8 chunks) the chunk kernel
    // measured no faster than i8_row from DRAM on Zen 4; with 4864 (2736 bytes) ~20% faster.
    if (n == 1 && dt == SQ_Q4_0 && cols >= SQ_C4_MIN_COLS) {
        SQ_FN(i8_c4_matvec)(w8, a.c4, cols, Y, r0, r1);
        return;
    }
#endif
    switch (dt) {
    case SQ_Q8_0: SQ_FN(i8_matmul_dt)(SQ_Q8_0, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q4_0: SQ_FN(i8_matmul_dt)(SQ_Q4_0, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q4_1: SQ_FN(i8_matmul_dt)(SQ_Q4_1, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q5_0: SQ_FN(i8_matmul_dt)(SQ_Q5_0, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q5_1: SQ_FN(i8_matmul_dt)(SQ_Q5_1, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q4_K: SQ_FN(i8_matmul_dt)(SQ_Q4_K, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q5_K: SQ_FN(i8_matmul_dt)(SQ_Q5_K, w8, a, Y, n, cols, ldy, r0, r1); break;
    case SQ_Q6_K: SQ_FN(i8_matmul_dt)(SQ_Q6_K, w8, a, Y, n, cols, ldy, r0, r1); break;
    default: break;
    }
}

#undef SQ_I8_NT
