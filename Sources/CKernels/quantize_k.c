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

// Block layout (ggml-common.h block_q4_K): f16 d, f16 dmin, 12 bytes of packed 6-bit scales and mins
// for the 8 sub-blocks of 32, then 128 bytes of nibbles (sub-blocks 2k and 2k+1 share 32 bytes: low and
// high nibble).
void sq_quantize_row_q4_K(const float *x, void *out, int64_t n) {
    uint8_t *dst = (uint8_t *)out;
    uint8_t L[256], Laux[32];
    float weights[32], mins[8], scales[8];
    for (int64_t b = 0; b < n / 256; b++, x += 256, dst += 144) {
        uint8_t *sc = dst + 4, *qs = dst + 16;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            // Weights favour large-magnitude values: rms of the sub-block plus |x|.
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = sq_make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
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
