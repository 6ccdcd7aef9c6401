// Run-time choice of the kernel variant by cpuid, with overrides for tests and benchmarks.
#include "common.h"
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static int sq_isa_active = -1;  // -1: not yet chosen

int sq_detect_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // Only the features the variants are compiled for (see the target attributes in isa_*.c).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return SQ_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return SQ_ISA_AVX2;
#endif
    return SQ_ISA_SCALAR;
}

static int sq_env_isa(int detected) {
    const char *env = getenv("SQUINT_ISA");
    if (env == NULL) return detected;
    int want = detected;
    if (strcmp(env, "scalar") == 0) want = SQ_ISA_SCALAR;
    else if (strcmp(env, "avx2") == 0) want = SQ_ISA_AVX2;
    else if (strcmp(env, "avx512") == 0) want = SQ_ISA_AVX512;
    return want < detected ? want : detected;
}

int sq_get_isa(void) {
    int isa = __atomic_load_n(&sq_isa_active, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = sq_env_isa(sq_detect_isa());
        __atomic_store_n(&sq_isa_active, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

int sq_set_isa(int isa) {
    const int detected = sq_detect_isa();
    const int use = isa < 0 ? sq_env_isa(detected) : (isa < detected ? isa : detected);
    __atomic_store_n(&sq_isa_active, use, __ATOMIC_RELAXED);
    return use;
}

int64_t sq_matmul_row_tile(void) { return 4; }

int64_t sq_matmul_f32act_row_align(int dtype, int64_t n) {
    if (sq_get_isa() == SQ_ISA_AVX512 && dtype <= SQ_BF16 && n >= SQ_GEMM_F_MIN_TOKENS) return 32;
    return sq_matmul_row_tile();
}

void sq_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

void sq_matmul_f32act(int dtype, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t r0, int64_t r1) {
    if (n <= 0 || r1 <= r0 || cols <= 0) return;
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_matmul_avx512(dtype, W, X, Y, n, cols, ldy, r0, r1); break;
    case SQ_ISA_AVX2: sq_matmul_avx2(dtype, W, X, Y, n, cols, ldy, r0, r1); break;
    default: sq_matmul_scalar(dtype, W, X, Y, n, cols, ldy, r0, r1); break;
    }
}

int sq_matmul_q8act_supported(int dtype, int64_t cols) {
    return dtype > SQ_BF16 && sq_block_size(dtype) > 1 && cols % sq_block_size(dtype) == 0;
}

// Measured on Zen 4 (one thread, Qwen2-0.5B shapes): the per-row int8 kernels beat the f32-activation
// path by 1.3-2.8x up to 4 tokens and lose by 10-30% from 16 tokens on, where the f32 register tile
// reuses each dequantized panel for many tokens; only the AVX-512 VNNI token-grouped kernel (Q8_0, Q4_0)
// keeps winning for prefill (~1.6-2x at 128 tokens).
#define SQ_Q8ACT_MAX_ROWS_PER_ROW_KERNEL 8

int sq_matmul_uses_q8act(int dtype, int64_t cols, int64_t n) {
    if (!sq_matmul_q8act_supported(dtype, cols)) return 0;
    if (n <= SQ_Q8ACT_MAX_ROWS_PER_ROW_KERNEL) return 1;
    return sq_get_isa() == SQ_ISA_AVX512 && (dtype == SQ_Q8_0 || dtype == SQ_Q4_0);
}

int64_t sq_q8act_bytes(int64_t n, int64_t cols) {
    return sq_act_bytes(n, cols);
}

void sq_quantize_act(const float *X, int64_t n, int64_t cols, void *buf, int64_t t0, int64_t t1) {
    if (t1 <= t0 || cols % 32 != 0) return;
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_quantize_act_avx512(X, n, cols, buf, t0, t1); break;
    case SQ_ISA_AVX2: sq_quantize_act_avx2(X, n, cols, buf, t0, t1); break;
    default: sq_quantize_act_scalar(X, n, cols, buf, t0, t1); break;
    }
}

void sq_matmul_q8act(int dtype, const void *W, const void *act, float *Y, int64_t n, int64_t cols, int64_t ldy,
                     int64_t r0, int64_t r1) {
    if (n <= 0 || r1 <= r0 || !sq_matmul_q8act_supported(dtype, cols)) return;
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_matmul_q8act_avx512(dtype, W, act, Y, n, cols, ldy, r0, r1); break;
    case SQ_ISA_AVX2: sq_matmul_q8act_avx2(dtype, W, act, Y, n, cols, ldy, r0, r1); break;
    default: sq_matmul_q8act_scalar(dtype, W, act, Y, n, cols, ldy, r0, r1); break;
    }
}

void sq_matmul(int dtype, const void *W, const float *X, float *Y, int64_t n, int64_t cols, int64_t ldy,
               int64_t r0, int64_t r1) {
    if (n <= 0 || r1 <= r0 || cols <= 0) return;
    if (sq_matmul_uses_q8act(dtype, cols, n)) {
        void *act = malloc((size_t)sq_q8act_bytes(n, cols));
        if (act != NULL) {
            sq_quantize_act(X, n, cols, act, 0, n);
            sq_matmul_q8act(dtype, W, act, Y, n, cols, ldy, r0, r1);
            free(act);
            return;
        }
    }
    sq_matmul_f32act(dtype, W, X, Y, n, cols, ldy, r0, r1);
}

void sq_rmsnorm(const float *x, int dtype, const void *w, float w_offset, float *y, int64_t n, float eps) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_rmsnorm_avx512(x, dtype, w, w_offset, y, n, eps); break;
    case SQ_ISA_AVX2: sq_rmsnorm_avx2(x, dtype, w, w_offset, y, n, eps); break;
    default: sq_rmsnorm_scalar(x, dtype, w, w_offset, y, n, eps); break;
    }
}

void sq_silu_mul(float *gate, const float *up, int64_t n) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_silu_mul_avx512(gate, up, n); break;
    case SQ_ISA_AVX2: sq_silu_mul_avx2(gate, up, n); break;
    default: sq_silu_mul_scalar(gate, up, n); break;
    }
}

void sq_add(float *y, const float *a, const float *b, int64_t n) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_add_avx512(y, a, b, n); break;
    case SQ_ISA_AVX2: sq_add_avx2(y, a, b, n); break;
    default: sq_add_scalar(y, a, b, n); break;
    }
}

void sq_convert_row(int dtype, const void *src, float *dst, int64_t n) {
    if (dtype > SQ_BF16) {
        sq_dequantize_row(dtype, src, dst, n);
        return;
    }
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_convert_row_avx512(dtype, src, dst, n); break;
    case SQ_ISA_AVX2: sq_convert_row_avx2(dtype, src, dst, n); break;
    default: sq_convert_row_scalar(dtype, src, dst, n); break;
    }
}

float sq_sum_f32(const float *x, int64_t n) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: return sq_sum_f32_avx512(x, n);
    case SQ_ISA_AVX2: return sq_sum_f32_avx2(x, n);
    default: return sq_sum_f32_scalar(x, n);
    }
}

void sq_attention(const sq_attention_params *p, int64_t h0, int64_t h1) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_attention_avx512(p, h0, h1); break;
    case SQ_ISA_AVX2: sq_attention_avx2(p, h0, h1); break;
    default: sq_attention_scalar(p, h0, h1); break;
    }
}

void sq_attention_stream(const sq_attention_params *p, int64_t h0, int64_t h1) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_attention_stream_avx512(p, h0, h1); break;
    case SQ_ISA_AVX2: sq_attention_stream_avx2(p, h0, h1); break;
    default: sq_attention_stream_scalar(p, h0, h1); break;
    }
}

int sq_attention_blocked(const sq_attention_params *p, int64_t h0, int64_t h1) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: return sq_attention_blocked_avx512(p, h0, h1);
    case SQ_ISA_AVX2: return sq_attention_blocked_avx2(p, h0, h1);
    default: return sq_attention_blocked_scalar(p, h0, h1);
    }
}

void sq_layernorm(const float *x, int dtype, const void *w, const void *b, float *y, int64_t n, float eps) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_layernorm_avx512(x, dtype, w, b, y, n, eps); break;
    case SQ_ISA_AVX2: sq_layernorm_avx2(x, dtype, w, b, y, n, eps); break;
    default: sq_layernorm_scalar(x, dtype, w, b, y, n, eps); break;
    }
}

void sq_activation(int kind, float *x, int64_t n) {
    switch (sq_get_isa()) {
    case SQ_ISA_AVX512: sq_activation_avx512(kind, x, n); break;
    case SQ_ISA_AVX2: sq_activation_avx2(kind, x, n); break;
    default: sq_activation_scalar(kind, x, n); break;
    }
}
