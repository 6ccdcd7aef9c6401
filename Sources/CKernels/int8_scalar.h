// Portable int8 vocabulary of quant_int8_template.h: plain structs that model the 256-bit vectors of
// int8_ymm.h lane for lane (8 int32 lanes, lane i summing bytes 4i ..< 4i + 4), so the template has one
// code path. Integer dot products are exact, so only the f32 accumulation order is ISA specific.
typedef struct { uint8_t b[32]; } sq_q8v;
typedef struct { int32_t l[8]; } sq_i8x;
typedef struct { float l[8]; } sq_f8x;
#define q8v sq_q8v
#define i8x sq_i8x
#define f8x sq_f8x

SQ_ALWAYS_INLINE sq_q8v sq_q_load(const void *p) { sq_q8v v; memcpy(v.b, p, 32); return v; }
SQ_ALWAYS_INLINE sq_q8v sq_q_nibbles(const uint8_t *p) {
    sq_q8v v;
    for (int i = 0; i < 16; i++) { v.b[i] = p[i] & 15; v.b[i + 16] = p[i] >> 4; }
    return v;
}
SQ_ALWAYS_INLINE sq_q8v sq_q_shr_and(sq_q8v v, int sh, int m) {
    for (int i = 0; i < 32; i++) v.b[i] = (uint8_t)((v.b[i] >> sh) & m);
    return v;
}
SQ_ALWAYS_INLINE sq_q8v sq_q_sll4(sq_q8v v) { for (int i = 0; i < 32; i++) v.b[i] = (uint8_t)(v.b[i] << 4); return v; }
SQ_ALWAYS_INLINE sq_q8v sq_q_or(sq_q8v a, sq_q8v b) { for (int i = 0; i < 32; i++) a.b[i] |= b.b[i]; return a; }
SQ_ALWAYS_INLINE sq_q8v sq_q_sub(sq_q8v v, int k) { for (int i = 0; i < 32; i++) v.b[i] = (uint8_t)(v.b[i] - k); return v; }
// 0xFF in byte j where bit j of u is set.
SQ_ALWAYS_INLINE sq_q8v sq_q_bits32(uint32_t u) {
    sq_q8v v;
    for (int i = 0; i < 32; i++) v.b[i] = ((u >> i) & 1u) ? 0xFF : 0;
    return v;
}
// w unsigned (DOTU) or signed (DOTS) bytes, a signed bytes.
SQ_ALWAYS_INLINE sq_i8x sq_q_dot(sq_q8v w, sq_q8v a, int is_signed) {
    sq_i8x r;
    for (int l = 0; l < 8; l++) {
        int32_t s = 0;
        for (int k = 4 * l; k < 4 * l + 4; k++) s += (is_signed ? (int32_t)(int8_t)w.b[k] : (int32_t)w.b[k]) * (int8_t)a.b[k];
        r.l[l] = s;
    }
    return r;
}
SQ_ALWAYS_INLINE sq_f8x sq_i_cvt(sq_i8x v) { sq_f8x r; for (int l = 0; l < 8; l++) r.l[l] = (float)v.l[l]; return r; }
SQ_ALWAYS_INLINE sq_f8x sq_f8_set1(float s) { sq_f8x r; for (int l = 0; l < 8; l++) r.l[l] = s; return r; }
SQ_ALWAYS_INLINE sq_f8x sq_f8_halves(float lo, float hi) {
    sq_f8x r;
    for (int l = 0; l < 8; l++) r.l[l] = l < 4 ? lo : hi;
    return r;
}
SQ_ALWAYS_INLINE sq_f8x sq_f8_fma(sq_f8x a, sq_f8x b, sq_f8x c) { for (int l = 0; l < 8; l++) c.l[l] += a.l[l] * b.l[l]; return c; }
SQ_ALWAYS_INLINE sq_f8x sq_f8_add(sq_f8x a, sq_f8x b) { for (int l = 0; l < 8; l++) a.l[l] += b.l[l]; return a; }
SQ_ALWAYS_INLINE sq_f8x sq_f8_mul(sq_f8x a, sq_f8x b) { for (int l = 0; l < 8; l++) a.l[l] *= b.l[l]; return a; }
SQ_ALWAYS_INLINE float sq_f8_reduce(sq_f8x v) {
    float s = 0;
    for (int l = 0; l < 8; l++) s += v.l[l];
    return s;
}

#define Q_LOAD(p) sq_q_load(p)
#define Q_NIBBLES(p) sq_q_nibbles((const uint8_t *)(p))
#define Q_SHR_AND(v, sh, m) sq_q_shr_and((v), (sh), (m))
#define Q_AND(v, m) sq_q_shr_and((v), 0, (m))
#define Q_SLL4(v) sq_q_sll4(v)
#define Q_OR(a, b) sq_q_or((a), (b))
#define Q_SUB(v, k) sq_q_sub((v), (k))
#define Q_DOTU(w, a) sq_q_dot((w), (a), 0)
#define Q_DOTS(w, a) sq_q_dot((w), (a), 1)
#define Q_BITS32(u) sq_q_bits32(u)
#define I_CVT(v) sq_i_cvt(v)
#define F8_ZERO() sq_f8_set1(0.0f)
#define F8_SET1(s) sq_f8_set1(s)
#define F8_HALVES(lo, hi) sq_f8_halves((lo), (hi))
#define F8_FMA(a, b, c) sq_f8_fma((a), (b), (c))
#define F8_ADD(a, b) sq_f8_add((a), (b))
#define F8_MUL(a, b) sq_f8_mul((a), (b))
#define F8_REDUCE(v) sq_f8_reduce(v)
