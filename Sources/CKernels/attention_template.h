// Attention kernel, written over the vector vocabulary of kernels_template.h (see there) and compiled
// once per ISA by isa_*.c. Not a public header.
//
// Streaming softmax: each query row keeps a running maximum m and denominator l, and the output row
// accumulates sum_j e^(s_j - m) v_j, rescaled by e^(m_old - m_new) when the maximum grows. Keys are taken
// in blocks of SQ_KEY_BLOCK so the rescale happens once per block and the block's scores sit in a small
// stack array; no [nq, keys] score matrix exists.
//
// Queries are processed in tiles of up to SQ_QT rows that share a KV head (the heads of one GQA group
// at one position, or consecutive positions of one head), so each K and V row is loaded once per tile,
// and four scores are reduced together.

#define SQ_KEY_BLOCK 64
#define SQ_QT 4
#ifndef SQ_ATT_AHEAD
#define SQ_ATT_AHEAD 32  // keys
#endif

typedef struct {
    const float *q[SQ_QT];  // query rows [head_dim]
    float *o[SQ_QT];        // output rows [head_dim]
    int64_t nk[SQ_QT];      // keys each row sees
    int count;
} SQ_FN(attn_tile);

// Scores of the tile's rows against keys [kb, kb + bn) into s[r][j], scaled; keys a row must not see
// (beyond its causal limit) get -inf.
SQ_ALWAYS_INLINE void SQ_FN(tile_scores)(const SQ_FN(attn_tile) *t, const float *K, const float *V, int64_t krs,
                                        int64_t hd, int64_t kb, int64_t bn, float scale, float s[SQ_QT][SQ_KEY_BLOCK]) {
    for (int64_t j = 0; j < bn; j++) {
        const float *k = K + (size_t)(kb + j) * krs;
        // Decode reads each layer's cache from L3 or memory once per step: K rows SQ_ATT_AHEAD keys ahead
        // and the block's V rows (used after its scores) are fetched while this key is scored.
        for (int64_t o = 0; o < hd; o += 16) {
            __builtin_prefetch(k + SQ_ATT_AHEAD * krs + o);
            __builtin_prefetch(V + (size_t)(kb + j) * krs + o);
        }
        vf acc[SQ_QT];
        for (int r = 0; r < SQ_QT; r++) acc[r] = VZERO();
        int64_t d = 0;
        for (; d + VW <= hd; d += VW) {
            const vf kv = VLOADU(k + d);
            for (int r = 0; r < SQ_QT; r++) acc[r] = VFMA(VLOADU(t->q[r] + d), kv, acc[r]);
        }
        float dot[SQ_QT];
        VREDUCE4(acc[0], acc[1], acc[2], acc[3], dot);
        for (; d < hd; d++)
            for (int r = 0; r < SQ_QT; r++) dot[r] += t->q[r][d] * k[d];
        for (int r = 0; r < SQ_QT; r++) s[r][j] = kb + j < t->nk[r] ? scale * dot[r] : -INFINITY;
    }
}

// o_r[d] += sum_j p[r][j] * V[kb + j][d] for the tile's rows: output chunks stay in registers across the
// block's keys and each V chunk is loaded once for all rows.
SQ_ALWAYS_INLINE void SQ_FN(tile_accumulate)(const SQ_FN(attn_tile) *t, const float *V, int64_t krs, int64_t hd,
                                            int64_t kb, int64_t bn, float p[SQ_QT][SQ_KEY_BLOCK]) {
    int64_t d = 0;
    for (; d + VW <= hd; d += VW) {
        vf o[SQ_QT];
        for (int r = 0; r < SQ_QT; r++) o[r] = VLOADU(t->o[r] + d);
        for (int64_t j = 0; j < bn; j++) {
            const vf v = VLOADU(V + (size_t)(kb + j) * krs + d);
            for (int r = 0; r < SQ_QT; r++) o[r] = VFMA(VSET1(p[r][j]), v, o[r]);
        }
        for (int r = 0; r < t->count; r++) VSTOREU(t->o[r] + d, o[r]);  // padding rows are never stored
    }
    for (; d < hd; d++) {
        for (int r = 0; r < t->count; r++) {
            float acc = t->o[r][d];
            for (int64_t j = 0; j < bn; j++) acc += p[r][j] * V[(size_t)(kb + j) * krs + d];
            t->o[r][d] = acc;
        }
    }
}

// One tile. Rows count ..< SQ_QT are padding: they alias row 0's pointers, see no keys, and are never
// written.
static void SQ_FN(attend_tile)(const SQ_FN(attn_tile) *t, const float *K, const float *V, int64_t hd,
                               int64_t krs, float scale) {
    float s[SQ_QT][SQ_KEY_BLOCK];
    float m[SQ_QT], l[SQ_QT];
    int64_t nk_max = 0;
    for (int r = 0; r < SQ_QT; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        if (r < t->count) {
            for (int64_t d = 0; d < hd; d++) t->o[r][d] = 0.0f;
        }
        if (t->nk[r] > nk_max) nk_max = t->nk[r];
    }
    for (int64_t kb = 0; kb < nk_max; kb += SQ_KEY_BLOCK) {
        const int64_t bn = nk_max - kb < SQ_KEY_BLOCK ? nk_max - kb : SQ_KEY_BLOCK;
        SQ_FN(tile_scores)(t, K, V, krs, hd, kb, bn, scale, s);
        for (int r = 0; r < SQ_QT; r++) {
            float bmax = -INFINITY;
            for (int64_t j = 0; j < bn; j++) bmax = s[r][j] > bmax ? s[r][j] : bmax;
            if (bmax == -INFINITY) {
                // Nothing visible in this block for this row (its causal limit is below kb).
                for (int64_t j = 0; j < bn; j++) s[r][j] = 0.0f;
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
            int64_t j = 0;
            for (; j + VW <= bn; j += VW) VSTOREU(s[r] + j, VEXP(VSUB(VLOADU(s[r] + j), vm)));
            for (; j < bn; j++) s[r][j] = expf(s[r][j] - m[r]);
            float sum = 0.0f;
            for (j = 0; j < bn; j++) sum += s[r][j];
            l[r] += sum;
        }
        SQ_FN(tile_accumulate)(t, V, krs, hd, kb, bn, s);
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

// The reference twin of attention_blocked_template.h, and the path for decode and short prompts.
void SQ_FN(sq_attention_stream)(const sq_attention_params *p, int64_t h0, int64_t h1) {
    if (p->kv_heads <= 0 || p->n_heads % p->kv_heads != 0 || p->head_dim <= 0) return;
    const int64_t group = p->n_heads / p->kv_heads;
    const int64_t hd = p->head_dim;
    SQ_FN(attn_tile) t;
    t.count = 0;
    const int64_t g0 = h0 / group, g1 = (h1 - 1) / group;
    for (int64_t g = g0; g <= g1 && h0 < h1; g++) {
        const float *K = p->k + (size_t)g * p->kv_head_stride;
        const float *V = p->v + (size_t)g * p->kv_head_stride;
        const int64_t ha = g * group > h0 ? g * group : h0;
        const int64_t hb = (g + 1) * group < h1 ? (g + 1) * group : h1;
        // Rows of this KV head in (position, head) order: a tile holds the heads of one GQA group at a
        // position, or consecutive positions, all reading the same K/V rows.
        for (int64_t i = 0; i < p->nq; i++) {
            for (int64_t h = ha; h < hb; h++) {
                const int r = t.count++;
                t.q[r] = p->q + (size_t)i * p->q_row_stride + (size_t)h * hd;
                t.o[r] = p->out + (size_t)i * p->out_row_stride + (size_t)h * hd;
                t.nk[r] = p->causal ? p->p0 + i + 1 : p->nkv;
                if (t.count == SQ_QT) {
                    SQ_FN(attend_tile)(&t, K, V, hd, p->kv_row_stride, p->scale);
                    t.count = 0;
                }
            }
        }
        if (t.count > 0) {
            for (int r = t.count; r < SQ_QT; r++) {  // padding rows
                t.q[r] = t.q[0];
                t.o[r] = t.o[0];
                t.nk[r] = 0;
            }
            SQ_FN(attend_tile)(&t, K, V, hd, p->kv_row_stride, p->scale);
            t.count = 0;
        }
    }
}

#undef SQ_KEY_BLOCK
#undef SQ_QT
#undef SQ_ATT_AHEAD
