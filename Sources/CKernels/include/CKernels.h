#ifndef SQUINT_CKERNELS_H
#define SQUINT_CKERNELS_H
// Hot CPU kernels of Squint. One portable binary: every kernel exists as an AVX-512 (F, BW, VL, VNNI), an
// AVX2+FMA+F16C and a scalar variant; the public entry points below pick one at run time by cpuid (overridable with
// sq_set_isa or the environment variable SQUINT_ISA=scalar|avx2|avx512, for tests and benchmarks).
//
// Conventions: weights are row-major [rows, cols] in dtype sq_dtype; activations are f32. Every
// accumulation is in f32 with bf16/f16 widened exactly (activations are never rounded to 16 bits),
// except the matmul over block-quantized weights, which rounds activations to int8 blocks as llama.cpp
// does (sq_matmul, sq_quantize_act).
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Weight element types (must match DType.kernelCode in Swift). Codes 3 and up are GGML block formats
/// (ggml-common.h layouts): a row is a whole number of blocks of sq_block_size elements.
typedef enum {
    SQ_F32 = 0, SQ_F16 = 1, SQ_BF16 = 2,
    SQ_Q8_0 = 3, SQ_Q4_0 = 4, SQ_Q4_1 = 5, SQ_Q5_0 = 6, SQ_Q5_1 = 7,
    SQ_Q4_K = 8, SQ_Q5_K = 9, SQ_Q6_K = 10,
} sq_dtype;

/// Elements per block of a dtype (1 for F32/F16/BF16) and bytes per block (the element size for those).
int64_t sq_block_size(int dtype);
int64_t sq_block_bytes(int dtype);

/// n elements (a multiple of the block size) of any dtype widened / dequantized to f32, bit-identical
/// to gguf-py's `gguf.quants.dequantize`. Portable C, no ISA variants.
void sq_dequantize_row(int dtype, const void *src, float *dst, int64_t n);

/// Instruction-set levels, ordered.
enum { SQ_ISA_SCALAR = 0, SQ_ISA_AVX2 = 1, SQ_ISA_AVX512 = 2 };

/// The best level this CPU supports (cpuid), ignoring any override.
int sq_detect_isa(void);
/// The level the kernels use now (detected, lowered by SQUINT_ISA or sq_set_isa).
int sq_get_isa(void);
/// Forces a level (clamped to what the CPU supports); a negative value restores the detected one.
/// Returns the level now in use. Not synchronised with running kernels: call it between them.
int sq_set_isa(int isa);

/// Rows of the matmul register tile: callers splitting rows across threads align chunks to this.
int64_t sq_matmul_row_tile(void);
/// The row alignment sq_matmul_f32act's thread ranges should keep for n tokens of this dtype (the row
/// tile, or the 32-row panels of the AVX-512 prefill GEMM, where a split inside a panel wastes lanes).
int64_t sq_matmul_f32act_row_align(int dtype, int64_t n);

/// Y[t, r] = sum_c W[r, c] * X[t, c] for t in [0, n), r in [r0, r1).
/// W: [rows, cols] of `dtype`; X: [n, cols] f32 (row stride cols); Y: [n, ldy] f32.
/// Y must not overlap X or W. Block-quantized W (where sq_matmul_uses_q8act) takes the int8 path: X is
/// quantized to blocks of 32 int8 (sq_quantize_act, into a malloc'd buffer) and sq_matmul_q8act runs;
/// F32/F16/BF16 W and the fallback compute in f32 (sq_matmul_f32act).
void sq_matmul(int dtype, const void *W, const float *X, float *Y,
               int64_t n, int64_t cols, int64_t ldy, int64_t r0, int64_t r1);

/// The f32-activation matmul for every dtype (quantized weights dequantized in registers or panels):
/// the reference twin of the int8 path, and the only path for F32/F16/BF16.
void sq_matmul_f32act(int dtype, const void *W, const float *X, float *Y,
                      int64_t n, int64_t cols, int64_t ldy, int64_t r0, int64_t r1);

/// Whether the int8 path exists for this weight type and row length (block formats, whole blocks), and
/// whether sq_matmul takes it for n tokens with the active ISA (where it is the faster one).
int sq_matmul_q8act_supported(int dtype, int64_t cols);
int sq_matmul_uses_q8act(int dtype, int64_t cols, int64_t n);

/// int8 activations as llama.cpp's Q8_0/Q8_1 (one f32 scale per block of 32; cols a multiple of 32):
/// bytes of the buffer for n rows of cols, then rows [t0, t1) of X [n, cols] quantized into it
/// (d = max|x| / 127, q = x / d rounded to nearest even; identical bits on every ISA), and
/// Y[t, r] for r in [r0, r1) computed from it with integer block dot products (sq_matmul's shape rules).
int64_t sq_q8act_bytes(int64_t n, int64_t cols);
void sq_quantize_act(const float *X, int64_t n, int64_t cols, void *buf, int64_t t0, int64_t t1);
void sq_matmul_q8act(int dtype, const void *W, const void *act, float *Y,
                     int64_t n, int64_t cols, int64_t ldy, int64_t r0, int64_t r1);

/// Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K weights repacked 16 rows at a time (layouts in pack16.c) for the
/// AVX-512 VNNI matvec. Supported: those dtypes, rows a multiple of 16, cols of whole blocks (32; K-quants
/// 256); preferred: also the AVX-512 kernel level in use (sq_get_isa: SQUINT_ISA=avx2 keeps the row-major
/// layout and its kernels).
int sq_pack16_supported(int dtype, int64_t rows, int64_t cols);
int sq_pack16_preferred(int dtype, int64_t rows, int64_t cols);
/// Bytes of the packed copy (equal to the original's), and groups [g0, g1) of 16 rows packed into P.
int64_t sq_pack16_bytes(int dtype, int64_t rows, int64_t cols);
void sq_pack16(int dtype, const void *W, void *P, int64_t cols, int64_t g0, int64_t g1);
/// Row r of packed weights widened to f32, bit-identical to sq_dequantize_row of the original row.
void sq_pack16_row(int dtype, const void *P, int64_t cols, int64_t r, float *out);
/// Y[t, r] for rows r in [16 g0, 16 g1) from packed weights P and activations quantized by
/// sq_quantize_act (n rows of cols); the same values on every ISA up to f32 rounding of the sums.
void sq_matmul_pack16(int dtype, const void *P, const void *act, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t g0, int64_t g1);

/// y = x / sqrt(mean(x^2) + eps) * (w + w_offset) over one row of n; w may be NULL (no weight).
/// Norm weights (here and in sq_layernorm) are F32, F16 or BF16: GGUF stores norms as F32.
/// w_offset is 0 for Llama/Qwen-style norms and 1 for Gemma-style `(1 + weight)` norms.
/// y may equal x.
void sq_rmsnorm(const float *x, int dtype, const void *w, float w_offset, float *y, int64_t n, float eps);

/// torch.nn.LayerNorm over one row of n: y = (x - mean) / sqrt(var + eps) * w + b, biased variance, f32.
/// w and b (same dtype) may each be NULL. y may equal x.
void sq_layernorm(const float *x, int dtype, const void *w, const void *b, float *y, int64_t n, float eps);

/// In-place activations (vision towers, projectors).
enum {
    SQ_ACT_GELU_ERF = 0,    // 0.5 x (1 + erf(x / sqrt 2)), nn.GELU() / "gelu"
    SQ_ACT_GELU_TANH = 1,   // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), "gelu_pytorch_tanh"
    SQ_ACT_QUICK_GELU = 2,  // x sigmoid(1.702 x), "quick_gelu"
    SQ_ACT_SILU = 3,        // x sigmoid(x)
};
void sq_activation(int kind, float *x, int64_t n);

/// gate[i] = silu(gate[i]) * up[i] with silu(g) = g / (1 + exp(-g)).
void sq_silu_mul(float *gate, const float *up, int64_t n);

/// y[i] = a[i] + b[i]; y may equal a or b.
void sq_add(float *y, const float *a, const float *b, int64_t n);

/// dst[i] = src[i] widened to f32 (an embedding row lookup, for instance). Quantized dtypes: n is a
/// multiple of the block size and the row is dequantized (sq_dequantize_row).
void sq_convert_row(int dtype, const void *src, float *dst, int64_t n);

/// Sum of n floats (used to measure read bandwidth).
float sq_sum_f32(const float *x, int64_t n);

/// Scaled-dot-product attention with grouped KV heads (GQA), streamed over keys with an online softmax.
///
/// Query i (0 <= i < nq) is at absolute position p0 + i. Causal: it sees keys 0 ... p0 + i.
/// Not causal: it sees keys 0 ..< nkv (vision encoders).
/// Layouts (element strides in floats):
///   q   (i, h, d) at q   + i * q_row_stride   + h * head_dim + d     h in [0, n_heads)
///   out (i, h, d) at out + i * out_row_stride + h * head_dim + d
///   k/v (g, j, d) at k   + g * kv_head_stride + j * kv_row_stride + d  g in [0, kv_heads)
/// A KV cache [kv_heads, max_seq, head_dim] has kv_head_stride = max_seq * head_dim, kv_row_stride = head_dim.
/// Query head h reads KV head h / (n_heads / kv_heads).
typedef struct {
    const float *q;
    const float *k;
    const float *v;
    float *out;
    int64_t nq, p0, nkv;
    int64_t n_heads, kv_heads, head_dim;
    int64_t q_row_stride, out_row_stride;
    int64_t kv_head_stride, kv_row_stride;
    float scale;
    int32_t causal;
} sq_attention_params;

/// Computes query heads [h0, h1) (callers split heads across threads). Uses a few KB of stack; with at
/// least 8 query rows per KV head (prefill, vision encoders) it takes the query-blocked kernel, which
/// mallocs a transposed copy of one KV head's keys.
void sq_attention(const sq_attention_params *p, int64_t h0, int64_t h1);
/// The two kernels sq_attention chooses between, for tests and benchmarks: the streamed one (one dot
/// product per key for a few query rows) and the query-blocked one (returns 0, writing nothing, if its
/// scratch allocation fails).
void sq_attention_stream(const sq_attention_params *p, int64_t h0, int64_t h1);
int sq_attention_blocked(const sq_attention_params *p, int64_t h0, int64_t h1);

/// x[i] = table[f16 bit pattern of x[i], rounded to nearest even] where lo < x[i] < hi; 0 where
/// x[i] <= lo; unchanged otherwise (x[i] >= hi, NaN). A NaN lo never zeroes. table has 65536 entries.
void sq_f16_table(const float *table, float *x, int64_t n, float lo, float hi);

/// A spin-wait hint (x86 `pause`) for the thread pool.
void sq_cpu_relax(void);

// f32 -> Q8_0 / Q4_0 rows (n a multiple of 32), byte-identical to gguf-py's quantize.
void sq_quantize_row_q8_0(const float *x, void *out, int64_t n);
void sq_quantize_row_q4_0(const float *x, void *out, int64_t n);
// f32 -> Q4_K rows (n a multiple of 256), llama.cpp's quantize_row_q4_K_ref: the 8 sub-blocks of a
// super-block searched together in vector lanes (AVX2 where the CPU has it), and its scalar reference
// twin (the same bytes).
void sq_quantize_row_q4_K(const float *x, void *out, int64_t n);
void sq_quantize_row_q4_K_ref(const float *x, void *out, int64_t n);
// The 8-lane search built for the baseline ISA only (what CPUs without AVX2 run), for tests.
void sq_quantize_row_q4_K_baseline(const float *x, void *out, int64_t n);

/// Hands the allocator's free pages back to the system (glibc `malloc_trim(0)`; a no-op elsewhere), e.g.
/// after loading a model, whose temporary tables would otherwise stay counted in the resident set.
void sq_release_free_heap(void);

#ifdef __cplusplus
}
#endif
#endif
