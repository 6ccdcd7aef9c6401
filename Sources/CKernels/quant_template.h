// Matmul over GGML block-quantized weights with f32 activations (included by kernels_template.h, once per
// ISA; see there for the macro vocabulary): sq_matmul_f32act. Activations stay f32 throughout, so results
// differ from dequantize-then-f32 only by rounding. It is the reference twin of the int8-activation path
// (quant_int8_template.h), and the faster path for long prefills without the AVX-512 grouped kernel.
//
// Decode (one token) is bandwidth bound, so weight bytes are read once and never written back: each
// block's quants are widened to f32 in registers (integer vector ops, no lookup tables) and FMA'd with x.
// Prefill (n > 1) is compute bound: a panel of rows is dequantized into scratch with the same block
// decoders and run through the f32 register-tile kernel, so decoding is shared by every token.
//
// The vector decoders compute (d * sc) * q - (dmin * m) as one FMA, so a decoded weight may differ from
// the exact (gguf-py identical) sq_dequantize_row value by an ulp; the matmul tests bound the result.

// One block's values as VW-wide vectors, in element order: stored to y (store = 1), or FMA'd with x
// into acc[0] and acc[1] by alternate vectors (store = 0; two chains hide the FMA latency). `store` is a
// constant after inlining.
#define SQ_EMIT(e, w)                                                      \
    do {                                                                   \
        if (store) VSTOREU(y + (e), (w));                                  \
        else acc[((e) / VW) & 1] = VFMA((w), VLOADU(x + (e)), acc[((e) / VW) & 1]); \
    } while (0)

SQ_ALWAYS_INLINE void SQ_FN(gen_q8_0)(const uint8_t *b, const float *x, float *y, vf *acc, const int store) {
    const vf d = VSET1(SQ_F16S(sq_le16(b)));
    for (int e = 0; e < 32; e += VW) SQ_EMIT(e, VMUL(VLOAD_I8(b + 2 + e), d));
}

// Element e < 16 is the low nibble of qs[e], element e + 16 its high nibble.
SQ_ALWAYS_INLINE void SQ_FN(gen_q4_0)(const uint8_t *b, const float *x, float *y, vf *acc, const int store) {
    const vf d = VSET1(SQ_F16S(sq_le16(b)));
    const vi m8 = VI_SET1(-8);
    for (int e = 0; e < 16; e += VW) {
        const vi q = VI_LOAD_U8(b + 2 + e);
        SQ_EMIT(e, VMUL(VI_TO_F(VI_ADD(VI_AND(q, 15), m8)), d));
        SQ_EMIT(e + 16, VMUL(VI_TO_F(VI_ADD(VI_SRL(q, 4), m8)), d));
    }
}

SQ_ALWAYS_INLINE void SQ_FN(gen_q4_1)(const uint8_t *b, const float *x, float *y, vf *acc, const int store) {
    const vf d = VSET1(SQ_F16S(sq_le16(b))), m = VSET1(SQ_F16S(sq_le16(b + 2)));
    for (int e = 0; e < 16; e += VW) {
        const vi q = VI_LOAD_U8(b + 4 + e);
        SQ_EMIT(e, VFMA(VI_TO_F(VI_AND(q, 15)), d, m));
        SQ_EMIT(e + 16, VFMA(VI_TO_F(VI_SRL(q, 4)), d, m));
    }
}

// Q5_0 (has_min 0) and Q5_1 (has_min 1): element j's fifth bit is bit j of the little-endian u32 qh.
SQ_ALWAYS_INLINE void SQ_FN(gen_q5)(const uint8_t *b, const float *x, float *y, vf *acc, const int store,
                                   const int has_min) {
    const vf d = VSET1(SQ_F16S(sq_le16(b)));
    const vf m = has_min ? VSET1(SQ_F16S(sq_le16(b + 2))) : VSET1(-16.0f);
    const uint8_t *hp = b + (has_min ? 4 : 2), *qs = hp + 4;
    const vi qh = VI_SET1((int32_t)sq_le32(hp));
    for (int e = 0; e < 16; e += VW) {
        const vi q = VI_LOAD_U8(qs + e);
        const vi idx = VI_ADD(VI_IOTA(), VI_SET1(e));
        const vi lo = VI_OR(VI_AND(q, 15), VI_SLL(VI_AND(VI_SRLV(qh, idx), 1), 4));
        const vi hi = VI_OR(VI_SRL(q, 4), VI_SLL(VI_AND(VI_SRLV(qh, VI_ADD(idx, VI_SET1(16))), 1), 4));
        if (has_min) {
            SQ_EMIT(e, VFMA(VI_TO_F(lo), d, m));
            SQ_EMIT(e + 16, VFMA(VI_TO_F(hi), d, m));
        } else {  // d * (q - 16): the subtraction is exact in f32
            SQ_EMIT(e, VMUL(VADD(VI_TO_F(lo), m), d));
            SQ_EMIT(e + 16, VMUL(VADD(VI_TO_F(hi), m), d));
        }
    }
}

// Q4_K (five 0) and Q5_K (five 1): 8 sub-blocks of 32; sub-block s takes nibble s % 2 of
// qs[32 (s / 2) + l] (and bit s of qh[l] as its fifth bit); x = (d sc_s) q - dmin m_s.
SQ_ALWAYS_INLINE void SQ_FN(gen_qk)(const uint8_t *b, const float *x, float *y, vf *acc, const int store,
                                   const int five) {
    const float d = SQ_F16S(sq_le16(b)), dmin = SQ_F16S(sq_le16(b + 2));
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
    // Fully unrolled: every shift count becomes an immediate.
#pragma clang loop unroll(full)
    for (int s = 0; s < 8; s++) {
        int sc, mn;
        sq_k_scale_min(scales, s, &sc, &mn);
        const vf d1 = VSET1(d * (float)sc), nm1 = VSET1(-(dmin * (float)mn));
        const uint8_t *q = qs + 32 * (s >> 1);
        const int sh = 4 * (s & 1);
        for (int l = 0; l < 32; l += VW) {
            vi v = VI_AND(VI_SRL(VI_LOAD_U8(q + l), sh), 15);
            if (five) v = VI_OR(v, VI_SLL(VI_AND(VI_SRL(VI_LOAD_U8(qh + l), s), 1), 4));
            SQ_EMIT(32 * s + l, VFMA(VI_TO_F(v), d1, nm1));
        }
    }
}

// Q6_K: chunk c of 32 elements sits in half g = c / 4 at k = c % 4: low 4 bits from nibble k / 2 of
// ql[64 g + 32 (k % 2) + l], top 2 bits from bits 2k of qh[32 g + l]; x = (d sc[e / 16]) (q - 32).
SQ_ALWAYS_INLINE void SQ_FN(gen_q6_K)(const uint8_t *b, const float *x, float *y, vf *acc, const int store) {
    const int8_t *scales = (const int8_t *)(b + 192);
    const float d = SQ_F16S(sq_le16(b + 208));
    const vf off = VSET1(-32.0f);
#pragma clang loop unroll(full)
    for (int c = 0; c < 8; c++) {
        const int g = c >> 2, k = c & 3;
        const uint8_t *ql = b + 64 * g + 32 * (k & 1), *qh = b + 128 + 32 * g;
        const int lsh = 4 * (k >> 1), hsh = 2 * k;
        for (int l = 0; l < 32; l += VW) {
            const int e = 32 * c + l;
            const vf ds = VSET1(d * (float)scales[e >> 4]);  // VW <= 16: one scale per vector
            const vi q = VI_OR(VI_AND(VI_SRL(VI_LOAD_U8(ql + l), lsh), 15),
                               VI_SLL(VI_AND(VI_SRL(VI_LOAD_U8(qh + l), hsh), 3), 4));
            SQ_EMIT(e, VMUL(VADD(VI_TO_F(q), off), ds));
        }
    }
}

#undef SQ_EMIT

// Dispatch on a dtype that is a constant after inlining.
SQ_ALWAYS_INLINE void SQ_FN(gen)(const int dt, const uint8_t *b, const float *x, float *y, vf *acc,
                                const int store) {
    switch (dt) {
    case SQ_Q8_0: SQ_FN(gen_q8_0)(b, x, y, acc, store); break;
    case SQ_Q4_0: SQ_FN(gen_q4_0)(b, x, y, acc, store); break;
    case SQ_Q4_1: SQ_FN(gen_q4_1)(b, x, y, acc, store); break;
    case SQ_Q5_0: SQ_FN(gen_q5)(b, x, y, acc, store, 0); break;
    case SQ_Q5_1: SQ_FN(gen_q5)(b, x, y, acc, store, 1); break;
    case SQ_Q4_K: SQ_FN(gen_qk)(b, x, y, acc, store, 0); break;
    case SQ_Q5_K: SQ_FN(gen_qk)(b, x, y, acc, store, 1); break;
    case SQ_Q6_K: SQ_FN(gen_q6_K)(b, x, y, acc, store); break;
    default: break;
    }
}

// Q8_0 row dotted with x, the block scale factored out: per block s = sum q x, then acc += d s.
SQ_ALWAYS_INLINE float SQ_FN(dot_q8_0)(const uint8_t *w, const float *x, int64_t nb) {
    vf acc0 = VZERO(), acc1 = VZERO();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *b0 = w + b * 34, *b1 = b0 + 34;
        const float *x0 = x + b * 32, *x1 = x0 + 32;
        vf s0 = VZERO(), s1 = VZERO();
        for (int k = 0; k < 32; k += VW) {
            s0 = VFMA(VLOAD_I8(b0 + 2 + k), VLOADU(x0 + k), s0);
            s1 = VFMA(VLOAD_I8(b1 + 2 + k), VLOADU(x1 + k), s1);
        }
        acc0 = VFMA(VSET1(SQ_F16S(sq_le16(b0))), s0, acc0);
        acc1 = VFMA(VSET1(SQ_F16S(sq_le16(b1))), s1, acc1);
    }
    for (; b < nb; b++) {
        const uint8_t *b0 = w + b * 34;
        const float *x0 = x + b * 32;
        vf s0 = VZERO();
        for (int k = 0; k < 32; k += VW) s0 = VFMA(VLOAD_I8(b0 + 2 + k), VLOADU(x0 + k), s0);
        acc0 = VFMA(VSET1(SQ_F16S(sq_le16(b0))), s0, acc0);
    }
    return VREDUCE_ADD(VADD(acc0, acc1));
}

// Q4_0 row dotted with x, scale factored out the same way; each 16-byte group is loaded once and split
// into its low (elements 0-15) and high (16-31) nibbles.
SQ_ALWAYS_INLINE float SQ_FN(dot_q4_0)(const uint8_t *w, const float *x, int64_t nb) {
    vf acc0 = VZERO(), acc1 = VZERO();
    const vi m8 = VI_SET1(-8);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = w + b * 18;
        const float *xb = x + b * 32;
        vf lo = VZERO(), hi = VZERO();
        for (int k = 0; k < 16; k += VW) {
            const vi q = VI_LOAD_U8(blk + 2 + k);
            lo = VFMA(VI_TO_F(VI_ADD(VI_AND(q, 15), m8)), VLOADU(xb + k), lo);
            hi = VFMA(VI_TO_F(VI_ADD(VI_SRL(q, 4), m8)), VLOADU(xb + 16 + k), hi);
        }
        const vf d = VSET1(SQ_F16S(sq_le16(blk)));
        if (b & 1) acc1 = VFMA(d, VADD(lo, hi), acc1);
        else acc0 = VFMA(d, VADD(lo, hi), acc0);
    }
    return VREDUCE_ADD(VADD(acc0, acc1));
}

// Any other block type: four accumulator chains (two per block, alternate blocks).
SQ_ALWAYS_INLINE float SQ_FN(dot_gen)(const int dt, const uint8_t *w, const float *x, int64_t nb, int64_t bs,
                                     int64_t bb) {
    vf acc0[2] = {VZERO(), VZERO()}, acc1[2] = {VZERO(), VZERO()};
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        SQ_FN(gen)(dt, w + b * bb, x + b * bs, NULL, acc0, 0);
        SQ_FN(gen)(dt, w + (b + 1) * bb, x + (b + 1) * bs, NULL, acc1, 0);
    }
    if (b < nb) SQ_FN(gen)(dt, w + b * bb, x + b * bs, NULL, acc0, 0);
    return VREDUCE_ADD(VADD(VADD(acc0[0], acc0[1]), VADD(acc1[0], acc1[1])));
}

// Rows [r0, r1), every token, each dot product straight from the blocks (decode).
SQ_ALWAYS_INLINE void SQ_FN(matvec_quant_dt)(const int dt, const uint8_t *w8, const float *X, float *Y, int64_t n,
                                            int64_t cols, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t bs = sq_block_size(dt), bb = sq_block_bytes(dt), nb = cols / bs;
    const size_t row_bytes = (size_t)(nb * bb);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *w = w8 + (size_t)r * row_bytes;
        for (int64_t t = 0; t < n; t++) {
            const float *x = X + t * cols;
            float s;
            if (dt == SQ_Q8_0) s = SQ_FN(dot_q8_0)(w, x, nb);
            else if (dt == SQ_Q4_0) s = SQ_FN(dot_q4_0)(w, x, nb);
            else s = SQ_FN(dot_gen)(dt, w, x, nb, bs, bb);
            Y[t * ldy + r] = s;
        }
    }
}

SQ_ALWAYS_INLINE void SQ_FN(dequant_rows_dt)(const int dt, const uint8_t *w8, float *out, int64_t cols, int64_t r0,
                                            int64_t r1) {
    const int64_t bs = sq_block_size(dt), bb = sq_block_bytes(dt), nb = cols / bs;
    const size_t row_bytes = (size_t)(nb * bb);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *w = w8 + (size_t)r * row_bytes;
        float *y = out + (size_t)(r - r0) * cols;
        for (int64_t b = 0; b < nb; b++) SQ_FN(gen)(dt, w + b * bb, NULL, y + b * bs, NULL, 1);
    }
}

#define SQ_QUANT_CASES(F, ...)                                \
    switch (dt) {                                             \
    case SQ_Q8_0: F(SQ_Q8_0, __VA_ARGS__); break;             \
    case SQ_Q4_0: F(SQ_Q4_0, __VA_ARGS__); break;             \
    case SQ_Q4_1: F(SQ_Q4_1, __VA_ARGS__); break;             \
    case SQ_Q5_0: F(SQ_Q5_0, __VA_ARGS__); break;             \
    case SQ_Q5_1: F(SQ_Q5_1, __VA_ARGS__); break;             \
    case SQ_Q4_K: F(SQ_Q4_K, __VA_ARGS__); break;             \
    case SQ_Q5_K: F(SQ_Q5_K, __VA_ARGS__); break;             \
    case SQ_Q6_K: F(SQ_Q6_K, __VA_ARGS__); break;             \
    default: break;                                           \
    }

// Scratch for one dequantized row panel: rows of cols f32 up to about this many bytes (L2 sized).
#define SQ_QPANEL_BYTES (512 * 1024)

void SQ_FN(sq_matmul_quant)(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
                         int64_t r0, int64_t r1) {
    const int64_t bs = sq_block_size(dt);
    if (bs <= 1 || cols % bs != 0) return;  // not a block type, or rows not whole blocks (callers check)
    const uint8_t *w8 = (const uint8_t *)W;
    float *panel = NULL;
    int64_t panel_rows = 0;
    if (n > 1) {
        panel_rows = (SQ_QPANEL_BYTES / (4 * cols)) & ~(int64_t)(SQ_RT - 1);
        if (panel_rows < SQ_RT) panel_rows = SQ_RT;
        if (panel_rows > r1 - r0) panel_rows = r1 - r0;
        panel = (float *)malloc((size_t)panel_rows * (size_t)cols * sizeof(float));
    }
    if (panel == NULL) {  // one token (or no memory for a panel)
#define SQ_MV(DT, ...) SQ_FN(matvec_quant_dt)(DT, __VA_ARGS__)
        SQ_QUANT_CASES(SQ_MV, w8, X, Y, n, cols, ldy, r0, r1)
#undef SQ_MV
        return;
    }
    for (int64_t p0 = r0; p0 < r1; p0 += panel_rows) {
        const int64_t p1 = p0 + panel_rows < r1 ? p0 + panel_rows : r1;
#define SQ_DQ(DT, ...) SQ_FN(dequant_rows_dt)(DT, __VA_ARGS__)
        SQ_QUANT_CASES(SQ_DQ, w8, panel, cols, p0, p1)
#undef SQ_DQ
        // The panel is an f32 [p1 - p0, cols] matrix whose row i is weight row p0 + i: Y shifted by p0.
        SQ_FN(matmul_dt)(SQ_F32, panel, X, Y + p0, n, cols, ldy, 0, p1 - p0);
    }
    free(panel);
}

#undef SQ_QUANT_CASES
#undef SQ_QPANEL_BYTES
