// f32 -> Q4_K, the same operations in the same order as llama.cpp's quantize_row_q4_K_ref
// (ggml-quants.c, with make_qkx2_quants), which is what llama-quantize and ggml_quantize_chunk use when
// no importance matrix is given. Written from that description; see Tests/ModelsTests for the byte check.
#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// No fused multiply-adds: llama.cpp's reference (ggml-base, baseline x86-64) has none, and a fused
// `sum += w * x` rounds differently, which can flip a quant level. This file is built for baseline x86-64
// too, so the package's -ffp-contract=fast has no FMA to fuse into (that flag disregards this pragma, which
// guards builds with other flags); Q4KQuantizerTests' byte comparison catches any change.
#pragma STDC FP_CONTRACT OFF

// Round to nearest, ties to even, by the float magic-number trick (valid for |x| <= 2^22), as llama.cpp's
// nearest_int does; lrintf would agree under the default rounding mode, this spells it out.
static inline int sq_nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

static inline uint16_t sq_f16_bits(float x) {
    _Float16 h = (_Float16)x;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

static inline float sq_f16_value(uint16_t bits) {
    _Float16 h;
    memcpy(&h, &bits, 2);
    return (float)h;
}

static inline int sq_clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Weighted asymmetric fit of n values to levels 0..nmax: a first guess from min/max, then nstep+1
// candidate scales, each refined by weighted least squares for (scale, min); the lowest weighted squared
// error wins. Returns the scale, the (negated) minimum in *the_min, the levels in L.
static float sq_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                                 float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = sq_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)sq_clampi(l, 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        float w = weights[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = sq_clampi(sq_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                float w = weights[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// sq_make_qkx2_quants for the 8 sub-blocks of a super-block at once, one per vector lane (GCC vector
// extensions): every lane runs the scalar function's operations in its order (the same sums in the same
// sequence, the same divisions, the same comparisons as lane masks), so each lane's result is the scalar
// one bit for bit; only the 8 searches share instructions. x and weights are 256 values (sub-block j at
// 32 * j); writes L[256] and the 8 scales and (negated) minimums. n = 32, nmax = 15.
typedef float sq_v8f __attribute__((vector_size(32)));
typedef int32_t sq_v8i __attribute__((vector_size(32)));

// Lane selects and levels as macros: vector-typed function arguments would change the ABI on baseline x86-64.
#define SQ_V8_SEL(m, a, b) ((sq_v8f)(((sq_v8i)(a) & (m)) | ((sq_v8i)(b) & ~(m))))
#define SQ_V8_SELI(m, a, b) (((a) & (m)) | ((b) & ~(m)))
// sq_clampi(sq_nearest_int(f), 0, 15) per lane, into l.
#define SQ_V8_LEVELS(l, f)                                                  \
    do {                                                                    \
        const sq_v8f v_ = (f) + 12582912.f;                                 \
        sq_v8i l_ = ((sq_v8i)v_ & 0x007fffff) - 0x00400000;                 \
        l_ = SQ_V8_SELI(l_ < 0, (sq_v8i){0}, l_);                           \
        (l) = SQ_V8_SELI(l_ > 15, (sq_v8i){0} + 15, l_);                    \
    } while (0)

static inline __attribute__((always_inline)) void sq_make_qkx2_quants_x8_body(
    const float *x, const float *weights, uint8_t *L, float *the_min, float *scales, float rmin, float rdelta, int nstep) {
    const int nmax = 15;
    const sq_v8f zero = {0};
    sq_v8f xt[32], wt[32];
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 8; j++) {
            xt[i][j] = x[32 * j + i];
            wt[i][j] = weights[32 * j + i];
        }
    sq_v8f min = xt[0], max = xt[0];
    sq_v8f sum_w = wt[0];
    sq_v8f sum_x = sum_w * xt[0];
    for (int i = 1; i < 32; ++i) {
        min = SQ_V8_SEL(xt[i] < min, xt[i], min);
        max = SQ_V8_SEL(xt[i] > max, xt[i], max);
        sum_w += wt[i];
        sum_x += wt[i] * xt[i];
    }
    min = SQ_V8_SEL(min > 0, zero, min);
    // Lanes with max == min return at once in the scalar function (levels 0, scale 0, -min): their other
    // lanes' arithmetic below is discarded at the end.
    const sq_v8i flat = max == min;
    const sq_v8f flat_min = min;
    sq_v8f iscale = nmax / (max - min);
    sq_v8f scale = 1 / iscale;
    sq_v8f best_error = zero;
    sq_v8i Lt[32], La[32];
    for (int i = 0; i < 32; ++i) {
        SQ_V8_LEVELS(Lt[i], iscale * (xt[i] - min));
        sq_v8f diff = scale * __builtin_convertvector(Lt[i], sq_v8f) + min - xt[i];
        diff = diff * diff;
        best_error += wt[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        sq_v8f sum_l = zero, sum_l2 = zero, sum_xl = zero;
        for (int i = 0; i < 32; ++i) {
            SQ_V8_LEVELS(La[i], iscale * (xt[i] - min));
            const sq_v8f l = __builtin_convertvector(La[i], sq_v8f), wl = wt[i] * l;
            sum_l += wl;
            sum_l2 += wl * l;
            sum_xl += wl * xt[i];
        }
        const sq_v8f D = sum_w * sum_l2 - sum_l * sum_l;
        const sq_v8i ok = D > 0;
        if (!(ok[0] | ok[1] | ok[2] | ok[3] | ok[4] | ok[5] | ok[6] | ok[7])) continue;
        sq_v8f this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        sq_v8f this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        const sq_v8i positive = this_min > 0;
        this_min = SQ_V8_SEL(positive, zero, this_min);
        this_scale = SQ_V8_SEL(positive, sum_xl / sum_l2, this_scale);
        sq_v8f cur_error = zero;
        for (int i = 0; i < 32; ++i) {
            sq_v8f diff = this_scale * __builtin_convertvector(La[i], sq_v8f) + this_min - xt[i];
            diff = diff * diff;
            cur_error += wt[i] * diff;
        }
        const sq_v8i better = ok & (cur_error < best_error);
        for (int i = 0; i < 32; ++i) Lt[i] = SQ_V8_SELI(better, La[i], Lt[i]);
        best_error = SQ_V8_SEL(better, cur_error, best_error);
        scale = SQ_V8_SEL(better, this_scale, scale);
        min = SQ_V8_SEL(better, this_min, min);
    }
    scale = SQ_V8_SEL(flat, zero, scale);
    min = SQ_V8_SEL(flat, flat_min, min);
    for (int j = 0; j < 8; j++) {
        scales[j] = scale[j];
        the_min[j] = -min[j];
        for (int i = 0; i < 32; i++) L[32 * j + i] = flat[j] ? 0 : (uint8_t)Lt[i][j];
    }
}

// The body built twice: for the baseline ISA, and for AVX2 where the CPU has it (8 lanes in one register
// instead of two). Not with FMA: "avx2" does not enable it, so nothing can be fused.
static void sq_make_qkx2_quants_x8(const float *x, const float *weights, uint8_t *L, float *the_min, float *scales,
                                   float rmin, float rdelta, int nstep) {
    sq_make_qkx2_quants_x8_body(x, weights, L, the_min, scales, rmin, rdelta, nstep);
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void sq_make_qkx2_quants_x8_avx2(const float *x, const float *weights, uint8_t *L,
                                                                         float *the_min, float *scales, float rmin,
                                                                         float rdelta, int nstep) {
    sq_make_qkx2_quants_x8_body(x, weights, L, the_min, scales, rmin, rdelta, nstep);
}
#endif

// Block layout (ggml-common.h block_q4_K): f16 d, f16 dmin, 12 bytes of packed 6-bit scales and mins
// for the 8 sub-blocks of 32, then 128 bytes of nibbles (sub-blocks 2k and 2k+1 share 32 bytes: low and
// high nibble).
// The row quantizer: `lanes` 2 takes the 8-lane search on the best ISA the CPU has (sq_quantize_row_q4_K),
// 1 the 8-lane search built for the baseline ISA, 0 the scalar search, the reference twin
// (sq_quantize_row_q4_K_ref); all write the same bytes.
static void sq_quantize_row_q4_K_impl(const float *x, void *out, int64_t n, int lanes) {
    uint8_t *dst = (uint8_t *)out;
    uint8_t L[256], Laux[32];
    float weights[256], mins[8], scales[8];
    for (int64_t b = 0; b < n / 256; b++, x += 256, dst += 144) {
        uint8_t *sc = dst + 4, *qs = dst + 16;
        for (int j = 0; j < 8; ++j) {
            // Weights favour large-magnitude values: rms of the sub-block plus |x|.
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[32 * j + l] = av_x + fabsf(x[32 * j + l]);
        }
        if (lanes) {
#if defined(__x86_64__)
            if (lanes == 2 && __builtin_cpu_supports("avx2"))
                sq_make_qkx2_quants_x8_avx2(x, weights, L, mins, scales, -1.f, 0.1f, 20);
            else
#endif
                sq_make_qkx2_quants_x8(x, weights, L, mins, scales, -1.f, 0.1f, 20);
        } else {
            for (int j = 0; j < 8; ++j)
                scales[j] = sq_make_qkx2_quants(32, 15, x + 32 * j, weights + 32 * j, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
        }
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; ++j) {
            // llama.cpp stores nearest_int into a uint8_t before clamping to 63: keep that truncation.
            uint8_t ls = (uint8_t)sq_nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)sq_nearest_int(inv_min * mins[j]);
            if (ls > 63) ls = 63;
            if (lm > 63) lm = 63;
            if (j < 4) {
                sc[j] = ls;
                sc[j + 4] = lm;
            } else {
                sc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
                sc[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        uint16_t d = sq_f16_bits(max_scale / 63.f), dmin = sq_f16_bits(max_min / 63.f);
        memcpy(dst, &d, 2);
        memcpy(dst + 2, &dmin, 2);
        // Requantize every value with the rounded 6-bit scales actually stored.
        for (int j = 0; j < 8; ++j) {
            uint8_t s, m;
            if (j < 4) {
                s = sc[j] & 63;
                m = sc[j + 4] & 63;
            } else {
                s = (uint8_t)((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4));
                m = (uint8_t)((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4));
            }
            const float dd = sq_f16_value(d) * s;
            if (!dd) continue;
            const float dm = sq_f16_value(dmin) * m;
            for (int ii = 0; ii < 32; ++ii) {
                L[32 * j + ii] = (uint8_t)sq_clampi(sq_nearest_int((x[32 * j + ii] + dm) / dd), 0, 15);
            }
        }
        for (int j = 0; j < 256; j += 64) {
            for (int l = 0; l < 32; ++l) qs[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            qs += 32;
        }
    }
}

void sq_quantize_row_q4_K(const float *x, void *out, int64_t n) { sq_quantize_row_q4_K_impl(x, out, n, 2); }
void sq_quantize_row_q4_K_ref(const float *x, void *out, int64_t n) { sq_quantize_row_q4_K_impl(x, out, n, 0); }
void sq_quantize_row_q4_K_baseline(const float *x, void *out, int64_t n) { sq_quantize_row_q4_K_impl(x, out, n, 1); }
