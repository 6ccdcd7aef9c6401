// Matmul over GGML block-quantized weights (included by kernels_template.h, once per ISA; see there for
// the macro vocabulary). Activations stay f32 throughout.
//
// Decode (one token) is bandwidth bound, so the weight bytes are read once and never written back:
// Q8_0 and Q4_0 blocks are widened to f32 in registers and FMA'd with x, each block sum scaled by its d;
// other types are dequantized one block at a time into a stack buffer and dotted. Prefill (n > 1) is
// compute bound: a panel of rows is dequantized into scratch once and run through the f32 tile kernel,
// so the dequantization cost is shared by every token. Either way the summation order differs from
// dequantize-then-dot in the reference, so results agree with it to rounding, not bit for bit.

// Q8_0 row (nb blocks of 34 bytes: f16 d, 32 x int8) dotted with x. Two blocks per step: independent chains.
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
        acc0 = VFMA(VSET1(SQ_F16S(b0[0] | (b0[1] << 8))), s0, acc0);
        acc1 = VFMA(VSET1(SQ_F16S(b1[0] | (b1[1] << 8))), s1, acc1);
    }
    for (; b < nb; b++) {
        const uint8_t *b0 = w + b * 34;
        const float *x0 = x + b * 32;
        vf s0 = VZERO();
        for (int k = 0; k < 32; k += VW) s0 = VFMA(VLOAD_I8(b0 + 2 + k), VLOADU(x0 + k), s0);
        acc0 = VFMA(VSET1(SQ_F16S(b0[0] | (b0[1] << 8))), s0, acc0);
    }
    return VREDUCE_ADD(VADD(acc0, acc1));
}

// Q4_0 row (nb blocks of 18 bytes: f16 d, 16 bytes; element j < 16 is the low nibble of byte j, element
// j + 16 its high nibble, both offset by 8) dotted with x.
SQ_ALWAYS_INLINE float SQ_FN(dot_q4_0)(const uint8_t *w, const float *x, int64_t nb) {
    vf acc0 = VZERO(), acc1 = VZERO();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = w + b * 18;
        const float *xb = x + b * 32;
        vf lo = VZERO(), hi = VZERO();
        for (int k = 0; k < 16; k += VW) {
            lo = VFMA(VLOAD_NIB(blk + 2 + k, 0), VLOADU(xb + k), lo);
            hi = VFMA(VLOAD_NIB(blk + 2 + k, 4), VLOADU(xb + 16 + k), hi);
        }
        const vf d = VSET1(SQ_F16S(blk[0] | (blk[1] << 8)));
        if (b & 1) acc1 = VFMA(d, VADD(lo, hi), acc1);
        else acc0 = VFMA(d, VADD(lo, hi), acc0);
    }
    return VREDUCE_ADD(VADD(acc0, acc1));
}

// Any block type: each block dequantized exactly (sq_dequantize_row) into a stack buffer, then dotted.
SQ_ALWAYS_INLINE float SQ_FN(dot_deq)(const int dt, const uint8_t *w, const float *x, int64_t cols, int64_t bs,
                                     int64_t bb) {
    float tmp[256];
    vf acc = VZERO();
    for (int64_t c = 0; c < cols; c += bs) {
        sq_dequantize_row(dt, w + (c / bs) * bb, tmp, bs);
        for (int64_t k = 0; k < bs; k += VW) acc = VFMA(VLOADU(tmp + k), VLOADU(x + c + k), acc);
    }
    return VREDUCE_ADD(acc);
}

// Scratch for one dequantized row panel: rows of cols f32 up to about this many bytes (L2 sized).
#define SQ_QPANEL_BYTES (512 * 1024)

void SQ_FN(matmul_quant)(int dt, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
                         int64_t r0, int64_t r1) {
    const int64_t bs = sq_block_size(dt), bb = sq_block_bytes(dt);
    if (bs <= 1 || cols % bs != 0) return;  // not a block type, or rows not whole blocks (callers check)
    const int64_t nb = cols / bs;
    const size_t row_bytes = (size_t)(nb * bb);
    const uint8_t *w8 = (const uint8_t *)W;
    float *panel = NULL;
    int64_t panel_rows = 0;
    if (n > 1) {
        panel_rows = (SQ_QPANEL_BYTES / (4 * cols)) & ~(int64_t)(SQ_RT - 1);
        if (panel_rows < SQ_RT) panel_rows = SQ_RT;
        if (panel_rows > r1 - r0) panel_rows = r1 - r0;
        panel = (float *)malloc((size_t)panel_rows * (size_t)cols * sizeof(float));
    }
    if (panel == NULL) {  // one token (or no memory for a panel): every row dotted with every token
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = w8 + (size_t)r * row_bytes;
            for (int64_t t = 0; t < n; t++) {
                const float *x = X + t * cols;
                float s;
                if (dt == SQ_Q8_0) s = SQ_FN(dot_q8_0)(w, x, nb);
                else if (dt == SQ_Q4_0) s = SQ_FN(dot_q4_0)(w, x, nb);
                else s = SQ_FN(dot_deq)(dt, w, x, cols, bs, bb);
                Y[t * ldy + r] = s;
            }
        }
        return;
    }
    for (int64_t p0 = r0; p0 < r1; p0 += panel_rows) {
        const int64_t p1 = p0 + panel_rows < r1 ? p0 + panel_rows : r1;
        for (int64_t r = p0; r < p1; r++)
            sq_dequantize_row(dt, w8 + (size_t)r * row_bytes, panel + (size_t)(r - p0) * cols, cols);
        // The panel is an f32 [p1 - p0, cols] matrix whose row i is weight row p0 + i: Y shifted by p0.
        SQ_FN(matmul_dt)(SQ_F32, panel, X, Y + p0, n, cols, ldy, 0, p1 - p0);
    }
    free(panel);
}

#undef SQ_QPANEL_BYTES
