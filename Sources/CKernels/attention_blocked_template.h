// Query-blocked attention for prefill-sized problems (many queries per KV head), written over the vector
// vocabulary of kernels_template.h and compiled once per ISA by isa_*.c. Not a public header.
//
// Same maths as attention_template.h (the streamed kernel, kept as its reference twin): an online softmax
// over key blocks of SQ_BKB keys with a running maximum m and denominator l per query row. What differs
// is the arithmetic layout, which makes both products register-blocked FMA loops with no horizontal
// reductions:
//   - K of the KV head is first copied transposed into panels of SQ_BKP keys, [panel][d][SQ_BKP], so the
//     scores of SQ_BQR query rows against one panel are SQ_BQR x (SQ_BKP / VW) vector accumulators fed by
//     one broadcast q[r][d] and SQ_BKP / VW panel loads per d (the streamed kernel reduces a dot product
//     per key instead: about twice the time per multiply-add on long sequences).
//   - P.V keeps SQ_BQR rows x 2 output chunks in registers across the block's keys, with one broadcast
//     p[r][j] per row and 2 loads of V[j] per key.
// The transposed copy costs nkeys * head_dim moves per KV head, against 2 * rows * nkeys * head_dim
// multiply-adds; sq_attention only takes this path with at least SQ_BLOCKED_MIN_ROWS rows per KV head.

#ifndef SQ_BQR
#define SQ_BQR 4  // query rows per tile (isa_*.c may set more where registers allow)
#endif
#define SQ_BLOCKED_MIN_ROWS 8
#define SQ_BQ_MAX_HD 512  // head_dim the blocked kernel takes (its interleaved query tile is on the stack)
#define SQ_BKB 64       // keys per online-softmax block (a multiple of SQ_BKP)
#define SQ_BKP (2 * VW) // keys per transposed panel: two vectors

typedef struct {
    const float *q[SQ_BQR];  // query rows [head_dim]
    float *o[SQ_BQR];        // output rows [head_dim]
    int64_t nk[SQ_BQR];      // keys each row sees
    int count;
} SQ_FN(bat_tile);

// Kt <- K rows [0, nkeys) as panels [panel][d][SQ_BKP]; keys past nkeys in the last panel are 0 (their
// scores are masked anyway, this only keeps them finite).
static void SQ_FN(bat_transpose)(const float *K, int64_t krs, int64_t hd, int64_t nkeys, float *Kt) {
    const int64_t npan = (nkeys + SQ_BKP - 1) / SQ_BKP;
    for (int64_t pn = 0; pn < npan; pn++) {
        float *dst = Kt + (size_t)pn * hd * SQ_BKP;
        const int64_t j0 = pn * SQ_BKP;
        const int64_t jn = nkeys - j0 < SQ_BKP ? nkeys - j0 : SQ_BKP;
        for (int64_t jj = 0; jj < jn; jj++) {
            const float *k = K + (size_t)(j0 + jj) * krs;
            for (int64_t d = 0; d < hd; d++) dst[d * SQ_BKP + jj] = k[d];
        }
        for (int64_t jj = jn; jj < SQ_BKP; jj++)
            for (int64_t d = 0; d < hd; d++) dst[d * SQ_BKP + jj] = 0.0f;
    }
}

// s[r][0, npan * SQ_BKP) = scale * q_r . k_j for the keys of panels starting at panel p0; keys a row must
// not see get -inf. qt holds the tile's query rows interleaved, qt[d * SQ_BQR + r] = q_r[d]: one base
// pointer for every broadcast (eight row pointers did not stay in registers: each broadcast reloaded one).
SQ_ALWAYS_INLINE void SQ_FN(bat_scores)(const SQ_FN(bat_tile) *t, const float *qt, const float *Kt, int64_t hd,
                                       int64_t kb, int64_t npan, float scale, float s[SQ_BQR][SQ_BKB]) {
    const vf vs = VSET1(scale);
    for (int64_t pn = 0; pn < npan; pn++) {
        const float *kp = Kt + (size_t)(kb / SQ_BKP + pn) * hd * SQ_BKP;
        vf a0[SQ_BQR], a1[SQ_BQR];
        for (int r = 0; r < SQ_BQR; r++) a0[r] = a1[r] = VZERO();
        for (int64_t d = 0; d < hd; d++) {
            const vf k0 = VLOADU(kp + d * SQ_BKP), k1 = VLOADU(kp + d * SQ_BKP + VW);
            for (int r = 0; r < SQ_BQR; r++) {
                const vf qv = VSET1(qt[d * SQ_BQR + r]);
                a0[r] = VFMA(qv, k0, a0[r]);
                a1[r] = VFMA(qv, k1, a1[r]);
            }
        }
        const int64_t j0 = pn * SQ_BKP;
        for (int r = 0; r < SQ_BQR; r++) {
            VSTOREU(s[r] + j0, VMUL(a0[r], vs));
            VSTOREU(s[r] + j0 + VW, VMUL(a1[r], vs));
            // Causal limit or the end of the keys inside this panel: mask the rest.
            const int64_t vis = t->nk[r] - (kb + j0);
            if (vis < SQ_BKP)
                for (int64_t jj = vis < 0 ? 0 : vis; jj < SQ_BKP; jj++) s[r][j0 + jj] = -INFINITY;
        }
    }
}

// o_r[d0, d0 + nc * VW) += sum_j p[r][j] V[kb + j][...] with nc (1 or 2) chunks per row in registers.
SQ_ALWAYS_INLINE void SQ_FN(bat_pv_chunks)(const SQ_FN(bat_tile) *t, const float *V, int64_t krs, int64_t kb,
                                          int64_t bn, int64_t d0, int nc, float p[SQ_BQR][SQ_BKB]) {
    vf o0[SQ_BQR], o1[SQ_BQR];
    for (int r = 0; r < SQ_BQR; r++) {
        o0[r] = VLOADU(t->o[r] + d0);
        o1[r] = nc > 1 ? VLOADU(t->o[r] + d0 + VW) : VZERO();
    }
    const float *vrow = V + (size_t)kb * krs + d0;
    if (nc > 1) {
        for (int64_t j = 0; j < bn; j++, vrow += krs) {
            const vf v0 = VLOADU(vrow), v1 = VLOADU(vrow + VW);
            for (int r = 0; r < SQ_BQR; r++) {
                const vf pv = VSET1(p[r][j]);
                o0[r] = VFMA(pv, v0, o0[r]);
                o1[r] = VFMA(pv, v1, o1[r]);
            }
        }
    } else {
        for (int64_t j = 0; j < bn; j++, vrow += krs) {
            const vf v0 = VLOADU(vrow);
            for (int r = 0; r < SQ_BQR; r++) o0[r] = VFMA(VSET1(p[r][j]), v0, o0[r]);
        }
    }
    for (int r = 0; r < t->count; r++) {  // padding rows are never stored
        VSTOREU(t->o[r] + d0, o0[r]);
        if (nc > 1) VSTOREU(t->o[r] + d0 + VW, o1[r]);
    }
}

SQ_ALWAYS_INLINE void SQ_FN(bat_pv)(const SQ_FN(bat_tile) *t, const float *V, int64_t krs, int64_t hd, int64_t kb,
                                   int64_t bn, float p[SQ_BQR][SQ_BKB]) {
    int64_t d = 0;
    for (; d + 2 * VW <= hd; d += 2 * VW) SQ_FN(bat_pv_chunks)(t, V, krs, kb, bn, d, 2, p);
    for (; d + VW <= hd; d += VW) SQ_FN(bat_pv_chunks)(t, V, krs, kb, bn, d, 1, p);
    for (; d < hd; d++) {
        for (int r = 0; r < t->count; r++) {
            float acc = t->o[r][d];
            for (int64_t j = 0; j < bn; j++) acc += p[r][j] * V[(size_t)(kb + j) * krs + d];
            t->o[r][d] = acc;
        }
    }
}

// One tile of up to SQ_BQR rows sharing a KV head. Rows count ..< SQ_BQR are padding: they alias row 0,
// see no keys and are never written.
static void SQ_FN(bat_tile_run)(const SQ_FN(bat_tile) *t, const float *Kt, const float *V, int64_t hd,
                                int64_t krs, float scale) {
    float s[SQ_BQR][SQ_BKB];
    float m[SQ_BQR], l[SQ_BQR];
    float qt[SQ_BQ_MAX_HD * SQ_BQR];
    int64_t nk_max = 0;
    for (int r = 0; r < SQ_BQR; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        if (r < t->count) memset(t->o[r], 0, (size_t)hd * sizeof(float));
        if (t->nk[r] > nk_max) nk_max = t->nk[r];
        for (int64_t d = 0; d < hd; d++) qt[d * SQ_BQR + r] = t->q[r][d];
    }
    for (int64_t kb = 0; kb < nk_max; kb += SQ_BKB) {
        const int64_t bn = nk_max - kb < SQ_BKB ? nk_max - kb : SQ_BKB;
        const int64_t npan = (bn + SQ_BKP - 1) / SQ_BKP;
        const int64_t bnp = npan * SQ_BKP;  // a multiple of VW; scores past bn are -inf
        SQ_FN(bat_scores)(t, qt, Kt, hd, kb, npan, scale, s);
        for (int r = 0; r < SQ_BQR; r++) {
            vf vmax = VLOADU(s[r]);
            for (int64_t j = VW; j < bnp; j += VW) vmax = VMAX(VLOADU(s[r] + j), vmax);
            const float bmax = VREDUCE_MAX(vmax);
            if (!(bmax > -INFINITY)) {
                // Nothing visible in this block for this row (past its causal limit, or a padding row).
                memset(s[r], 0, (size_t)bnp * sizeof(float));
                continue;
            }
            if (bmax > m[r]) {
                if (l[r] > 0.0f && r < t->count) {
                    // Rescale what was accumulated under the old maximum.
                    const float corr = expf(m[r] - bmax);
                    l[r] *= corr;
                    const vf vc = VSET1(corr);
                    int64_t d = 0;
                    for (; d + VW <= hd; d += VW) VSTOREU(t->o[r] + d, VMUL(VLOADU(t->o[r] + d), vc));
                    for (; d < hd; d++) t->o[r][d] *= corr;
                }
                m[r] = bmax;
            }
            // e^(s - m); masked keys give e^-inf = 0.
            const vf vm = VSET1(m[r]);
            vf vsum = VZERO();
            for (int64_t j = 0; j < bnp; j += VW) {
                const vf e = VEXP(VSUB(VLOADU(s[r] + j), vm));
                VSTOREU(s[r] + j, e);
                vsum = VADD(vsum, e);
            }
            l[r] += VREDUCE_ADD(vsum);
        }
        SQ_FN(bat_pv)(t, V, krs, hd, kb, bn, s);
    }
    for (int r = 0; r < t->count; r++) {
        if (l[r] <= 0.0f) continue;
        const float inv = 1.0f / l[r];
        const vf vi = VSET1(inv);
        int64_t d = 0;
        for (; d + VW <= hd; d += VW) VSTOREU(t->o[r] + d, VMUL(VLOADU(t->o[r] + d), vi));
        for (; d < hd; d++) t->o[r][d] *= inv;
    }
}

// Same contract as sq_attention. Returns 0 when a scratch could not be allocated or head_dim exceeds
// SQ_BQ_MAX_HD (nothing written; the caller falls back to the streamed kernel).
int SQ_FN(sq_attention_blocked)(const sq_attention_params *p, int64_t h0, int64_t h1) {
    if (p->kv_heads <= 0 || p->n_heads % p->kv_heads != 0 || p->head_dim <= 0) return 1;
    if (h1 <= h0 || p->nq <= 0) return 1;
    if (p->head_dim > SQ_BQ_MAX_HD) return 0;  // the streamed kernel takes it
    const int64_t group = p->n_heads / p->kv_heads;
    const int64_t hd = p->head_dim;
    const int64_t nkeys = p->causal ? p->p0 + p->nq : p->nkv;
    if (nkeys <= 0) {
        // No keys at all: the streamed kernel's answer (zero rows) without a zero-sized allocation.
        SQ_FN(sq_attention_stream)(p, h0, h1);
        return 1;
    }
    const int64_t npan = (nkeys + SQ_BKP - 1) / SQ_BKP;
    float *Kt = (float *)malloc((size_t)npan * (size_t)hd * SQ_BKP * sizeof(float));
    if (Kt == NULL) return 0;
    // V rows further apart than head_dim (a fused qkv buffer: 3 * heads * head_dim floats, 15 KB for
    // Qwen2-VL's vision tower) are copied together first: read in place, every key of the P.V loop sat in
    // another page, beyond the hardware prefetcher, and the vision tower's attention ran at ~37% of the FMA
    // peak (measured: 45% of a 768-token image's encode time).
    float *Vc = p->kv_row_stride == hd ? NULL : (float *)malloc((size_t)nkeys * (size_t)hd * sizeof(float));
    if (p->kv_row_stride != hd && Vc == NULL) {
        free(Kt);
        return 0;
    }
    SQ_FN(bat_tile) t;
    t.count = 0;
    const int64_t g0 = h0 / group, g1 = (h1 - 1) / group;
    for (int64_t g = g0; g <= g1; g++) {
        const float *K = p->k + (size_t)g * p->kv_head_stride;
        const float *V = p->v + (size_t)g * p->kv_head_stride;
        SQ_FN(bat_transpose)(K, p->kv_row_stride, hd, nkeys, Kt);
        if (Vc != NULL) {
            for (int64_t j = 0; j < nkeys; j++)
                memcpy(Vc + (size_t)j * hd, V + (size_t)j * p->kv_row_stride, (size_t)hd * sizeof(float));
            V = Vc;
        }
        const int64_t ha = g * group > h0 ? g * group : h0;
        const int64_t hb = (g + 1) * group < h1 ? (g + 1) * group : h1;
        // Rows in (position, head) order, as in the streamed kernel: consecutive rows share K/V and, when
        // causal, have nearly the same key count.
        for (int64_t i = 0; i < p->nq; i++) {
            for (int64_t h = ha; h < hb; h++) {
                const int r = t.count++;
                t.q[r] = p->q + (size_t)i * p->q_row_stride + (size_t)h * hd;
                t.o[r] = p->out + (size_t)i * p->out_row_stride + (size_t)h * hd;
                t.nk[r] = p->causal ? p->p0 + i + 1 : p->nkv;
                if (t.count == SQ_BQR) {
                    SQ_FN(bat_tile_run)(&t, Kt, V, hd, hd, p->scale);  // V rows now contiguous
                    t.count = 0;
                }
            }
        }
        if (t.count > 0) {
            for (int r = t.count; r < SQ_BQR; r++) {  // padding rows
                t.q[r] = t.q[0];
                t.o[r] = t.o[0];
                t.nk[r] = 0;
            }
            SQ_FN(bat_tile_run)(&t, Kt, V, hd, hd, p->scale);  // V rows now contiguous
            t.count = 0;
        }
    }
    free(Vc);
    free(Kt);
    return 1;
}

// The entry point: the blocked kernel once there are enough rows per KV head to pay for the transposed
// copy of K, the streamed one otherwise (decode, short prompts) or when the scratch allocation fails.
void SQ_FN(sq_attention)(const sq_attention_params *p, int64_t h0, int64_t h1) {
    const int64_t group = p->kv_heads > 0 ? p->n_heads / p->kv_heads : 1;
    if (p->nq * group >= SQ_BLOCKED_MIN_ROWS && SQ_FN(sq_attention_blocked)(p, h0, h1)) return;
    SQ_FN(sq_attention_stream)(p, h0, h1);
}

#undef SQ_BKB
#undef SQ_BQR
#undef SQ_BLOCKED_MIN_ROWS
#undef SQ_BQ_MAX_HD
#undef SQ_BKP
