// The kernels, written once over a small vector vocabulary and compiled three times (isa_*.c): each
// includer defines the macros below, wraps the include in a target attribute, and names its functions
// with SQ_FN. Not a public header: include only from isa_*.c.
//
//   SQ_FN(name)     function name with the ISA suffix        VW          lanes per vector
//   vf              vector of VW floats                      TT_MAX      tokens in the matmul register tile
//   VZERO() VSET1(s) VLOADU(p) VSTOREU(p, v)                 VLOAD_BF16(p) VLOAD_F16(p): VW halves -> vf
//   VFMA(a, b, c) = a*b + c   VADD VSUB VMUL VDIV           VREDUCE_ADD(v) -> float
//   VREDUCE4(a, b, c, d, out) out[0..3] = the sums of a, b, c, d
//   VEXP(v)         accurate e^v (<= ~2 ulp)
//   VLOAD_I8(p)     VW int8 -> vf
//   SQ_F16S(h)      one f16 bit pattern -> float
//   vi              vector of VW int32: VI_LOAD_U8(p) (VW bytes, zero-extended) VI_SET1 VI_IOTA() (0..VW-1)
//                   VI_ADD VI_SRL(v, n) VI_SLL(v, n) VI_SRLV(v, counts) VI_AND(v, int) VI_OR VI_TO_F(v) -> vf

// MARK: - Matmul

// Register tile: SQ_RT weight rows x TT_MAX tokens of accumulators. Each weight vector is widened once
// per tile and reused for TT_MAX tokens, so weights are read once per token block, not once per token.
#define SQ_RT 4
#define SQ_TOKEN_BLOCK_MIN 32
#ifndef SQ_TOKEN_BLOCK_BYTES
#define SQ_TOKEN_BLOCK_BYTES (512 * 1024)
#endif
#ifndef SQ_PANEL_BYTES
#define SQ_PANEL_BYTES (4 * 1024 * 1024)
#endif

SQ_ALWAYS_INLINE vf SQ_FN(load_w)(const int dt, const void *row, int64_t c) {
    if (dt == SQ_F32) return VLOADU((const float *)row + c);
    if (dt == SQ_F16) return VLOAD_F16((const uint16_t *)row + c);
    return VLOAD_BF16((const uint16_t *)row + c);
}

// Y[j, i] (+)= sum_{c in [c0, c1)} W[i, c] * X[j, c] for i < rt, j < tt. W points at the tile's first row,
// X at its first token, Y at (first token, first row). rt and tt are compile-time constants after
// inlining, so the accumulator arrays live in registers.
SQ_ALWAYS_INLINE void SQ_FN(tile)(const int dt, const int rt, const int tt, const char *W, size_t row_bytes,
                                 const float *X, int64_t ldx, float *Y, int64_t ldy, int64_t c0, int64_t c1,
                                 int accumulate) {
    vf acc[SQ_RT][TT_MAX];
    const void *wr[SQ_RT];
    const float *xr[TT_MAX];
    for (int i = 0; i < rt; i++) wr[i] = W + (size_t)i * row_bytes;
    for (int j = 0; j < tt; j++) xr[j] = X + (size_t)j * ldx;
    for (int i = 0; i < rt; i++)
        for (int j = 0; j < tt; j++) acc[i][j] = VZERO();
    int64_t c = c0;
    for (; c + VW <= c1; c += VW) {
        vf w[SQ_RT];
        for (int i = 0; i < rt; i++) w[i] = SQ_FN(load_w)(dt, wr[i], c);
        for (int j = 0; j < tt; j++) {
            vf x = VLOADU(xr[j] + c);
            for (int i = 0; i < rt; i++) acc[i][j] = VFMA(w[i], x, acc[i][j]);
        }
    }
    float s[SQ_RT][TT_MAX];
    if (rt == 4) {
        // Four rows of one token reduced together (a transposing add tree): far fewer shuffles than four
        // separate horizontal sums, which matters when column blocks are short.
        for (int j = 0; j < tt; j++) {
            float r4[4];
            VREDUCE4(acc[0][j], acc[1][j], acc[2][j], acc[3][j], r4);
            for (int i = 0; i < 4; i++) s[i][j] = r4[i];
        }
    } else {
        for (int i = 0; i < rt; i++)
            for (int j = 0; j < tt; j++) s[i][j] = VREDUCE_ADD(acc[i][j]);
    }
    for (; c < c1; c++) {  // column tail (< VW columns)
        for (int i = 0; i < rt; i++) {
            float wv = sq_load_scalar(dt, wr[i], c);
            for (int j = 0; j < tt; j++) s[i][j] += wv * xr[j][c];
        }
    }
    for (int j = 0; j < tt; j++) {
        float *y = Y + (size_t)j * ldy;
        for (int i = 0; i < rt; i++) y[i] = accumulate ? y[i] + s[i][j] : s[i][j];
    }
}

// A token remainder (1 ..< TT_MAX tokens) with constant tile sizes.
SQ_ALWAYS_INLINE void SQ_FN(tile_rem)(const int dt, const int rt, int64_t rem, const char *W, size_t row_bytes,
                                     const float *X, int64_t ldx, float *Y, int64_t ldy, int64_t c0, int64_t c1,
                                     int accumulate) {
    switch (rem) {
    case 1: SQ_FN(tile)(dt, rt, 1, W, row_bytes, X, ldx, Y, ldy, c0, c1, accumulate); break;
#if TT_MAX > 2
    case 2: SQ_FN(tile)(dt, rt, 2, W, row_bytes, X, ldx, Y, ldy, c0, c1, accumulate); break;
#endif
#if TT_MAX > 3
    case 3: SQ_FN(tile)(dt, rt, 3, W, row_bytes, X, ldx, Y, ldy, c0, c1, accumulate); break;
#endif
#if TT_MAX > 4
    case 4: SQ_FN(tile)(dt, rt, 4, W, row_bytes, X, ldx, Y, ldy, c0, c1, accumulate); break;
#endif
#if TT_MAX > 5
    case 5: SQ_FN(tile)(dt, rt, 5, W, row_bytes, X, ldx, Y, ldy, c0, c1, accumulate); break;
#endif
#if TT_MAX > 6
#error "extend tile_rem for TT_MAX > 6"
#endif
    default: break;
    }
}

// Software prefetch distance (bytes ahead in the weights) of the F32/F16/BF16 decode matvec. Measured on
// Emerald Rapids, 2 threads, the Qwen2-0.5B-shaped F16 bench model (tokens/s): none 15.2-16.6, 1 KB 19.1-19.6,
// 2 KB 20.9-21.3, 4 KB 19.9-20.1, 8 KB 19.2-20.7.
#ifndef SQ_MATVEC_PREFETCH
#define SQ_MATVEC_PREFETCH 2048
#endif

// matvec_few_dt: its prefetch distance (bytes ahead in each of its two row streams), and up to how many
// tokens it is used rather than the register tiles.
#ifndef SQ_FEW_PREFETCH
#define SQ_FEW_PREFETCH 4096
#endif
#ifndef SQ_MATVEC_FEW_MAX
#define SQ_MATVEC_FEW_MAX 8
#endif

// Decode (one token): one weight row at a time as a single sequential stream, four independent
// accumulator chains. Measured faster than a 4-row tile, whose four interleaved streams 8 KB apart
// keep fewer lines in flight.
SQ_ALWAYS_INLINE void SQ_FN(matvec_dt)(const int dt, const void *W, const float *x, float *y, int64_t cols,
                                      int64_t r0, int64_t r1) {
    const size_t row_bytes = (size_t)cols * (dt == SQ_F32 ? 4 : 2);
    for (int64_t r = r0; r < r1; r++) {
        const void *w = (const char *)W + (size_t)r * row_bytes;
        vf a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
        int64_t c = 0;
        for (; c + 4 * VW <= cols; c += 4 * VW) {
#if SQ_MATVEC_PREFETCH
            // The weight bytes of this step (4 * VW elements) SQ_MATVEC_PREFETCH ahead, rows being contiguous
            // (past the last row's end a prefetch is harmless).
            for (int64_t o = 0; o < 4 * VW * (dt == SQ_F32 ? 4 : 2); o += 64)
                __builtin_prefetch((const char *)w + c * (dt == SQ_F32 ? 4 : 2) + o + SQ_MATVEC_PREFETCH);
#endif
            a0 = VFMA(SQ_FN(load_w)(dt, w, c), VLOADU(x + c), a0);
            a1 = VFMA(SQ_FN(load_w)(dt, w, c + VW), VLOADU(x + c + VW), a1);
            a2 = VFMA(SQ_FN(load_w)(dt, w, c + 2 * VW), VLOADU(x + c + 2 * VW), a2);
            a3 = VFMA(SQ_FN(load_w)(dt, w, c + 3 * VW), VLOADU(x + c + 3 * VW), a3);
        }
        for (; c + VW <= cols; c += VW) a0 = VFMA(SQ_FN(load_w)(dt, w, c), VLOADU(x + c), a0);
        float s = VREDUCE_ADD(VADD(VADD(a0, a1), VADD(a2, a3)));
        for (; c < cols; c++) s += sq_load_scalar(dt, w, c) * x[c];
        y[r] = s;
    }
}

// A few tokens (compare lanes, short batches): like matvec_dt, weight rows streamed in order with a
// software prefetch, two rows at a time, each weight vector widened once and used for up to 4 tokens
// whose activation vectors serve both rows (6 loads per 8 FMAs); more tokens take the rows again in groups
// of 4, from L1. The 4-row x 6-token tile below reads four rows 8 KB apart at once with no prefetch and
// reloads each activation vector per row block. Measured on Emerald Rapids, F16 Qwen2-0.5B shape, 4
// lockstep sequences, 2 threads: 41 (tile) -> 61 (this, 2 KB prefetch) -> 70-72 (4 KB; 8 KB the same,
// 1 KB 51-58) tokens/s.
SQ_ALWAYS_INLINE void SQ_FN(matvec_group)(const int dt, const int nt, const int nr, const void *w0p, const void *w1p,
                                         const float *X, int64_t cols, float *out0, float *out1) {
    const int64_t es = dt == SQ_F32 ? 4 : 2;
    vf a0[4], a1[4];
    for (int t = 0; t < nt; t++) a0[t] = a1[t] = VZERO();
    int64_t c = 0;
    for (; c + 2 * VW <= cols; c += 2 * VW) {
#if SQ_FEW_PREFETCH
        for (int64_t o = 0; o < 2 * VW * es; o += 64) {
            __builtin_prefetch((const char *)w0p + c * es + o + SQ_FEW_PREFETCH);
            if (nr == 2) __builtin_prefetch((const char *)w1p + c * es + o + SQ_FEW_PREFETCH);
        }
#endif
        for (int64_t u = 0; u < 2 * VW; u += VW) {
            const vf w0 = SQ_FN(load_w)(dt, w0p, c + u);
            const vf w1 = nr == 2 ? SQ_FN(load_w)(dt, w1p, c + u) : VZERO();
            for (int t = 0; t < nt; t++) {
                const vf x = VLOADU(X + t * cols + c + u);
                a0[t] = VFMA(w0, x, a0[t]);
                if (nr == 2) a1[t] = VFMA(w1, x, a1[t]);
            }
        }
    }
    for (; c + VW <= cols; c += VW) {
        const vf w0 = SQ_FN(load_w)(dt, w0p, c);
        const vf w1 = nr == 2 ? SQ_FN(load_w)(dt, w1p, c) : VZERO();
        for (int t = 0; t < nt; t++) {
            const vf x = VLOADU(X + t * cols + c);
            a0[t] = VFMA(w0, x, a0[t]);
            if (nr == 2) a1[t] = VFMA(w1, x, a1[t]);
        }
    }
    if (nt == 4) {
        VREDUCE4(a0[0], a0[1], a0[2], a0[3], out0);
        if (nr == 2) VREDUCE4(a1[0], a1[1], a1[2], a1[3], out1);
    } else {
        for (int t = 0; t < nt; t++) out0[t] = VREDUCE_ADD(a0[t]);
        if (nr == 2)
            for (int t = 0; t < nt; t++) out1[t] = VREDUCE_ADD(a1[t]);
    }
    for (; c < cols; c++) {
        const float v0 = sq_load_scalar(dt, w0p, c);
        for (int t = 0; t < nt; t++) out0[t] += v0 * X[t * cols + c];
        if (nr == 2) {
            const float v1 = sq_load_scalar(dt, w1p, c);
            for (int t = 0; t < nt; t++) out1[t] += v1 * X[t * cols + c];
        }
    }
}

SQ_ALWAYS_INLINE void SQ_FN(matvec_few_dt)(const int dt, const void *W, const float *X, float *Y, int64_t n,
                                          int64_t cols, int64_t ldy, int64_t r0, int64_t r1) {
    const size_t row_bytes = (size_t)cols * (dt == SQ_F32 ? 4 : 2);
    for (int64_t r = r0; r < r1; r += 2) {
        const void *w0 = (const char *)W + (size_t)r * row_bytes;
        const void *w1 = (const char *)w0 + row_bytes;
        const int two = r + 1 < r1;
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            float s0[4], s1[4];
            const float *x = X + t0 * cols;
            const int64_t nt = n - t0 < 4 ? n - t0 : 4;
#define SQ_FEW_CASE(k) \
    case k: \
        if (two) SQ_FN(matvec_group)(dt, k, 2, w0, w1, x, cols, s0, s1); \
        else SQ_FN(matvec_group)(dt, k, 1, w0, w0, x, cols, s0, s1); \
        break;
            switch (nt) {
            SQ_FEW_CASE(1) SQ_FEW_CASE(2) SQ_FEW_CASE(3) SQ_FEW_CASE(4)
            default: break;
            }
#undef SQ_FEW_CASE
            for (int64_t t = 0; t < nt; t++) {
                Y[(t0 + t) * ldy + r] = s0[t];
                if (two) Y[(t0 + t) * ldy + r + 1] = s1[t];
            }
        }
    }
}

// All tokens for rows [r0, r1) of one dtype.
SQ_ALWAYS_INLINE void SQ_FN(matmul_dt)(const int dt, const void *W, const float *X, float *Y, int64_t n,
                                      int64_t cols, int64_t ldy, int64_t r0, int64_t r1) {
    const size_t row_bytes = (size_t)cols * (dt == SQ_F32 ? 4 : 2);
    // Column blocking for long prefills: sweep the [n, kc] activation panel (<= SQ_PANEL_BYTES, L3
    // resident) with every row block of this thread while the 4-row weight block (kc columns) stays in
    // L1/L2 across token blocks; partial sums of later blocks are added into Y (f32: only the summation
    // order changes). Measured on Zen 4: a 4 MB panel with blocks of >= 1024 columns beats 512 KB (L2)
    // panels, whose extra per-block reductions cost more than the L3 reads they save.
    int64_t kc = cols;
    if (n > 1) {
        int64_t lim = (SQ_PANEL_BYTES) / (4 * n);
        lim &= ~(int64_t)63;  // block edges on whole vectors: no column tails inside the row
        if (lim < 1024) lim = 1024;
        if (kc > lim) kc = lim;
    }
    // Many tokens: tokens in blocks of tb (tb x kc activations, <= SQ_TOKEN_BLOCK_BYTES, stay in L2) swept by
    // every 4-row weight block of this thread, so activations come from L2 rather than L3 for each row
    // block; half-precision rows are widened to f32 once per (token block, row block) into wf instead of
    // once per token tile inside the FMA loop (widening is exact). Per output element the summation
    // order is unchanged: same column blocks, same tile code. Measured on Zen 4, one thread, F16
    // 1280x1280: 1024 tokens 86 -> 93 GF/s, 3072 tokens 47 -> 96 GF/s (the [n, kc] panel no longer
    // streams from L3 once per 4-row block); 512 KB blocks (half of Zen 4's L2) beat 256 KB for tall
    // weights (3840x1280: 83 -> 91 GF/s, 5120x1280: 81 -> 91) and tie for square ones.
    float *wf = NULL;
    int64_t tb = n;
    if (n >= SQ_TOKEN_BLOCK_MIN) {
        tb = (SQ_TOKEN_BLOCK_BYTES) / (4 * kc) / TT_MAX * TT_MAX;
        if (tb < TT_MAX) tb = TT_MAX;
        if (dt != SQ_F32) wf = (float *)malloc((size_t)SQ_RT * (size_t)kc * sizeof(float));
    }
    for (int64_t c0 = 0; c0 < cols; c0 += kc) {
        const int64_t c1 = c0 + kc < cols ? c0 + kc : cols;
        const int accumulate = c0 > 0;
        const int64_t w = c1 - c0;
        for (int64_t t0 = 0; t0 < n; t0 += tb) {
            const int64_t t1 = t0 + tb < n ? t0 + tb : n;
            int64_t r = r0;
            for (; r + SQ_RT <= r1; r += SQ_RT) {
                const char *wp = (const char *)W + (size_t)r * row_bytes;
                const float *xs = X + t0 * cols;
                int tdt = dt;
                size_t rb = row_bytes;
                int64_t cs = c0, ce = c1;
                if (wf != NULL) {
                    for (int i = 0; i < SQ_RT; i++) {
                        const char *src = wp + (size_t)i * row_bytes;
                        int64_t c = 0;
                        for (; c + VW <= w; c += VW) VSTOREU(wf + (size_t)i * kc + c, SQ_FN(load_w)(dt, src, c0 + c));
                        for (; c < w; c++) wf[(size_t)i * kc + c] = sq_load_scalar(dt, src, c0 + c);
                    }
                    // The tile indexes columns from 0 over the widened block.
                    wp = (const char *)wf;
                    tdt = SQ_F32;
                    rb = (size_t)kc * sizeof(float);
                    xs += c0;
                    cs = 0;
                    ce = w;
                }
                int64_t t = t0;
                for (; t + TT_MAX <= t1; t += TT_MAX, xs += TT_MAX * cols)
                    SQ_FN(tile)(tdt, SQ_RT, TT_MAX, wp, rb, xs, cols, Y + t * ldy + r, ldy, cs, ce, accumulate);
                if (t < t1)
                    SQ_FN(tile_rem)(tdt, SQ_RT, t1 - t, wp, rb, xs, cols, Y + t * ldy + r, ldy, cs, ce, accumulate);
            }
            for (; r < r1; r++) {  // row tail, one row at a time
                const char *wp = (const char *)W + (size_t)r * row_bytes;
                int64_t t = t0;
                for (; t + TT_MAX <= t1; t += TT_MAX)
                    SQ_FN(tile)(dt, 1, TT_MAX, wp, row_bytes, X + t * cols, cols, Y + t * ldy + r, ldy, c0, c1,
                                accumulate);
                if (t < t1)
                    SQ_FN(tile_rem)(dt, 1, t1 - t, wp, row_bytes, X + t * cols, cols, Y + t * ldy + r, ldy, c0, c1,
                                    accumulate);
            }
        }
    }
    free(wf);
}

#include "quant_template.h"
#include "quant_int8_template.h"

void SQ_FN(sq_matmul)(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t r0, int64_t r1) {
    if (dt > SQ_BF16) {
        SQ_FN(sq_matmul_quant)(dt, W, X, Y, n, cols, ldy, r0, r1);
        return;
    }
#ifdef SQ_GEMM_F
    if (n >= SQ_GEMM_F_MIN_TOKENS) {  // the packed-panel GEMM (gemm_avx512.c)
        sq_gemm_f_avx512(dt, W, X, Y, n, cols, ldy, r0, r1);
        return;
    }
#endif
    if (n == 1) {
        switch (dt) {
        case SQ_F32: SQ_FN(matvec_dt)(SQ_F32, W, X, Y, cols, r0, r1); return;
        case SQ_F16: SQ_FN(matvec_dt)(SQ_F16, W, X, Y, cols, r0, r1); return;
        case SQ_BF16: SQ_FN(matvec_dt)(SQ_BF16, W, X, Y, cols, r0, r1); return;
        default: return;
        }
    }
    if (n <= SQ_MATVEC_FEW_MAX) {
        switch (dt) {
        case SQ_F32: SQ_FN(matvec_few_dt)(SQ_F32, W, X, Y, n, cols, ldy, r0, r1); return;
        case SQ_F16: SQ_FN(matvec_few_dt)(SQ_F16, W, X, Y, n, cols, ldy, r0, r1); return;
        case SQ_BF16: SQ_FN(matvec_few_dt)(SQ_BF16, W, X, Y, n, cols, ldy, r0, r1); return;
        default: return;
        }
    }
    switch (dt) {
    case SQ_F32: SQ_FN(matmul_dt)(SQ_F32, W, X, Y, n, cols, ldy, r0, r1); break;
    case SQ_F16: SQ_FN(matmul_dt)(SQ_F16, W, X, Y, n, cols, ldy, r0, r1); break;
    case SQ_BF16: SQ_FN(matmul_dt)(SQ_BF16, W, X, Y, n, cols, ldy, r0, r1); break;
    default: break;
    }
}

// MARK: - Elementwise

// Sum with four accumulators (independent FMA chains; also used for the bandwidth measurement).
SQ_ALWAYS_INLINE float SQ_FN(sum_sq)(const float *x, int64_t n, int square) {
    vf a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
    int64_t i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        vf x0 = VLOADU(x + i), x1 = VLOADU(x + i + VW), x2 = VLOADU(x + i + 2 * VW), x3 = VLOADU(x + i + 3 * VW);
        if (square) {
            a0 = VFMA(x0, x0, a0); a1 = VFMA(x1, x1, a1); a2 = VFMA(x2, x2, a2); a3 = VFMA(x3, x3, a3);
        } else {
            a0 = VADD(a0, x0); a1 = VADD(a1, x1); a2 = VADD(a2, x2); a3 = VADD(a3, x3);
        }
    }
    for (; i + VW <= n; i += VW) {
        vf x0 = VLOADU(x + i);
        a0 = square ? VFMA(x0, x0, a0) : VADD(a0, x0);
    }
    float s = VREDUCE_ADD(VADD(VADD(a0, a1), VADD(a2, a3)));
    for (; i < n; i++) s += square ? x[i] * x[i] : x[i];
    return s;
}

float SQ_FN(sq_sum_f32)(const float *x, int64_t n) { return SQ_FN(sum_sq)(x, n, 0); }

SQ_ALWAYS_INLINE void SQ_FN(rmsnorm_dt)(const int dt, const float *x, const void *w, float w_offset, float *y,
                                       int64_t n, float r) {
    const vf vr = VSET1(r), voff = VSET1(w_offset);
    int64_t i = 0;
    // Same order as torch: (x * rsqrt(var + eps)) first, then times the weight.
    for (; i + VW <= n; i += VW)
        VSTOREU(y + i, VMUL(VMUL(VLOADU(x + i), vr), VADD(SQ_FN(load_w)(dt, w, i), voff)));
    for (; i < n; i++) y[i] = (x[i] * r) * (sq_load_scalar(dt, w, i) + w_offset);
}

void SQ_FN(sq_rmsnorm)(const float *x, int dt, const void *w, float w_offset, float *y, int64_t n, float eps) {
    if (n <= 0) return;
    // Mean of squares in f32 (as torch computes it for f32 hidden states); 1/sqrt, not an rsqrt estimate.
    const float r = 1.0f / sqrtf(SQ_FN(sum_sq)(x, n, 1) / (float)n + eps);
    if (w == NULL) {
        const vf vr = VSET1(r);
        int64_t i = 0;
        for (; i + VW <= n; i += VW) VSTOREU(y + i, VMUL(VLOADU(x + i), vr));
        for (; i < n; i++) y[i] = x[i] * r;
        return;
    }
    switch (dt) {
    case SQ_F32: SQ_FN(rmsnorm_dt)(SQ_F32, x, w, w_offset, y, n, r); break;
    case SQ_F16: SQ_FN(rmsnorm_dt)(SQ_F16, x, w, w_offset, y, n, r); break;
    case SQ_BF16: SQ_FN(rmsnorm_dt)(SQ_BF16, x, w, w_offset, y, n, r); break;
    default: break;
    }
}

SQ_ALWAYS_INLINE void SQ_FN(layernorm_dt)(const int dt, const float *x, const void *w, const void *b, float *y,
                                         int64_t n, float mean, float r) {
    const vf vm = VSET1(mean), vr = VSET1(r);
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        vf v = VMUL(VSUB(VLOADU(x + i), vm), vr);
        if (w != NULL) v = VMUL(v, SQ_FN(load_w)(dt, w, i));
        if (b != NULL) v = VADD(v, SQ_FN(load_w)(dt, b, i));
        VSTOREU(y + i, v);
    }
    for (; i < n; i++) {
        float v = (x[i] - mean) * r;
        if (w != NULL) v *= sq_load_scalar(dt, w, i);
        if (b != NULL) v += sq_load_scalar(dt, b, i);
        y[i] = v;
    }
}

void SQ_FN(sq_layernorm)(const float *x, int dt, const void *w, const void *b, float *y, int64_t n, float eps) {
    if (n <= 0) return;
    // Two passes in f32 (mean, then the biased variance of x - mean): no cancellation from E[x^2] - E[x]^2.
    const float mean = SQ_FN(sum_sq)(x, n, 0) / (float)n;
    const vf vm = VSET1(mean);
    vf a0 = VZERO(), a1 = VZERO();
    int64_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        const vf d0 = VSUB(VLOADU(x + i), vm), d1 = VSUB(VLOADU(x + i + VW), vm);
        a0 = VFMA(d0, d0, a0);
        a1 = VFMA(d1, d1, a1);
    }
    for (; i + VW <= n; i += VW) {
        const vf d0 = VSUB(VLOADU(x + i), vm);
        a0 = VFMA(d0, d0, a0);
    }
    float ss = VREDUCE_ADD(VADD(a0, a1));
    for (; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    switch (dt) {
    case SQ_F32: SQ_FN(layernorm_dt)(SQ_F32, x, w, b, y, n, mean, r); break;
    case SQ_F16: SQ_FN(layernorm_dt)(SQ_F16, x, w, b, y, n, mean, r); break;
    case SQ_BF16: SQ_FN(layernorm_dt)(SQ_BF16, x, w, b, y, n, mean, r); break;
    default: break;
    }
}

void SQ_FN(sq_activation)(int kind, float *x, int64_t n) {
    if (kind == SQ_ACT_GELU_ERF) {
        // No vector erf here: libm's erff per element, the same formula as torch's exact GELU.
        for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        return;
    }
    // All three others are x * sigmoid(a(x)) = x / (1 + e^-a(x)):
    //   silu a = x; quick_gelu a = 1.702 x;
    //   gelu_tanh: 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3) equals x * sigmoid(2u),
    //   a form without the cancellation 1 + tanh(u) suffers for negative x.
    const float c1 = kind == SQ_ACT_QUICK_GELU ? 1.702f : 1.0f;
    const vf one = VSET1(1.0f), vc1 = VSET1(c1);
    const vf k0 = VSET1(2.0f * 0.79788456080286536f), k1 = VSET1(2.0f * 0.79788456080286536f * 0.044715f);
    int64_t i = 0;
    for (; i + VW <= n; i += VW) {
        const vf v = VLOADU(x + i);
        vf a;
        if (kind == SQ_ACT_GELU_TANH) a = VMUL(v, VFMA(VMUL(v, v), k1, k0));  // 2u = x (k0 + k1 x^2)
        else a = VMUL(v, vc1);
        VSTOREU(x + i, VDIV(v, VADD(one, VEXP(VSUB(VZERO(), a)))));
    }
    for (; i < n; i++) {
        const float v = x[i];
        const float a = kind == SQ_ACT_GELU_TANH ? v * (2.0f * 0.79788456080286536f + 2.0f * 0.79788456080286536f * 0.044715f * v * v)
                                                 : v * c1;
        x[i] = v / (1.0f + expf(-a));
    }
}

void SQ_FN(sq_silu_mul)(float *gate, const float *up, int64_t n) {
    const vf one = VSET1(1.0f);
    int64_t i = 0;
    // silu(g) = g / (1 + e^-g), the form ATen's CPU kernel uses; an IEEE division, no reciprocal estimate.
    for (; i + VW <= n; i += VW) {
        vf g = VLOADU(gate + i);
        vf e = VEXP(VSUB(VZERO(), g));
        VSTOREU(gate + i, VMUL(VDIV(g, VADD(one, e)), VLOADU(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void SQ_FN(sq_add)(float *y, const float *a, const float *b, int64_t n) {
    int64_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(y + i, VADD(VLOADU(a + i), VLOADU(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

SQ_ALWAYS_INLINE void SQ_FN(convert_dt)(const int dt, const void *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(dst + i, SQ_FN(load_w)(dt, src, i));
    for (; i < n; i++) dst[i] = sq_load_scalar(dt, src, i);
}

void SQ_FN(sq_convert_row)(int dt, const void *src, float *dst, int64_t n) {
    switch (dt) {
    case SQ_F32: SQ_FN(convert_dt)(SQ_F32, src, dst, n); break;
    case SQ_F16: SQ_FN(convert_dt)(SQ_F16, src, dst, n); break;
    case SQ_BF16: SQ_FN(convert_dt)(SQ_BF16, src, dst, n); break;
    default: break;
    }
}

#undef SQ_RT
#undef SQ_TOKEN_BLOCK_MIN
