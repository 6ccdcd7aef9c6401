// Portable scalar variant of the kernels: any x86-64 (or other) CPU; also the fallback in tests.
#include "common.h"

#define SQ_FN(name) name##_scalar
#define VW 1
#define TT_MAX 2
#define vf float
#define VZERO() 0.0f
#define VSET1(s) (s)
#define VLOADU(p) (*(p))
#define VSTOREU(p, v) (*(p) = (v))
#define VLOAD_BF16(p) sq_bf16_to_f32(*(p))
#define VLOAD_F16(p) sq_f16_to_f32(*(p))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VLOAD_I8(p) ((float)*(const int8_t *)(p))
#define SQ_F16S(h) sq_f16_to_f32((uint16_t)(h))
#define vi int32_t
#define VI_LOAD_U8(p) ((int32_t) * (const uint8_t *)(p))
#define VI_SET1(i) ((int32_t)(i))
#define VI_IOTA() 0
#define VI_ADD(a, b) ((a) + (b))
#define VI_SRL(v, n) ((int32_t)((uint32_t)(v) >> (n)))
#define VI_SLL(v, n) ((v) << (n))
#define VI_SRLV(v, n) ((int32_t)((uint32_t)(v) >> (n)))
#define VI_AND(v, m) ((v) & (m))
#define VI_OR(a, b) ((a) | (b))
#define VI_TO_F(v) ((float)(v))
#define VREDUCE_ADD(v) (v)
#define VEXP(v) expf(v)
#define VREDUCE4(a, b, c, d, out) ((out)[0] = (a), (out)[1] = (b), (out)[2] = (c), (out)[3] = (d))
#define VABS(v) fabsf(v)
#define VMAX(a, b) ((a) > (b) ? (a) : (b))  // the vector max's operand order: a NaN b yields b
#define VREDUCE_MAX(v) (v)
#define VCVT_RNE(v) sq_rne_i32(v)
#define VI_STORE_I8(p, v) (*(p) = (int8_t)(v))
#define VI_REDUCE_ADD(v) (v)
#include "int8_scalar.h"

// Nearest even, as cvtps2dq in the default rounding mode; the activation quantizer's values are in
// [-127, 127], anything else (NaN) becomes the vector instructions' answer for it, INT32_MIN, clamped.
static inline int32_t sq_rne_i32(float v) {
    const float r = rintf(v);
    if (!(r >= -128.0f)) return -128;
    return r > 127.0f ? 127 : (int32_t)r;
}

#include "kernels_template.h"
#include "attention_template.h"
#define SQ_BQR 4  // attention_blocked_template.h: 4 rows x 2 vectors of scores = 8 accumulators
#include "attention_blocked_template.h"
