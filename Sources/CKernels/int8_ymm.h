// 256-bit integer vocabulary of quant_int8_template.h, shared by the AVX2 and AVX-512 variants (included
// inside their target attribute, after SQ_I8_DOTU / SQ_I8_DOTS / SQ_I8_BITS32 are defined). Both use ymm
// for the int8 dot products: a block of 32 quants is exactly one ymm, and on Zen 4 a zmm op is two ymm
// ops anyway, so nothing is lost by not pairing blocks (whose scales differ) in one zmm.
//
//   q8v: 32 bytes   i8x: 8 int32   f8x: 8 float. Lane i of a dot product sums bytes 4i ..< 4i + 4, so
//   lanes 0-3 cover elements 0-15 and lanes 4-7 elements 16-31 (Q6_K's two scales per block).
#define q8v __m256i
#define i8x __m256i
#define f8x __m256
#define Q_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
// 16 bytes -> low nibbles in bytes 0-15, high nibbles in bytes 16-31 (the Q4_0/Q4_1/Q5 element order).
#define Q_NIBBLES(p) sq_nibbles_ymm((const uint8_t *)(p))
// (byte >> sh) & m for every byte; sh < 8 and the mask drops the bits a 16-bit shift brings in.
#define Q_SHR_AND(v, sh, m) _mm256_and_si256(_mm256_srli_epi16((v), (sh)), _mm256_set1_epi8((char)(m)))
#define Q_AND(v, m) _mm256_and_si256((v), _mm256_set1_epi8((char)(m)))
#define Q_SLL4(v) _mm256_slli_epi16((v), 4)  // bytes <= 15 only: nothing crosses into the next byte
#define Q_OR(a, b) _mm256_or_si256((a), (b))
#define Q_SUB(v, k) _mm256_sub_epi8((v), _mm256_set1_epi8((char)(k)))
#define Q_DOTU(w, a) SQ_I8_DOTU((w), (a))
#define Q_DOTS(w, a) SQ_I8_DOTS((w), (a))
#define Q_BITS32(u) SQ_I8_BITS32(u)
#define I_CVT(v) _mm256_cvtepi32_ps(v)
#define F8_ZERO() _mm256_setzero_ps()
#define F8_SET1(s) _mm256_set1_ps(s)
#define F8_HALVES(lo, hi) _mm256_setr_m128(_mm_set1_ps(lo), _mm_set1_ps(hi))
#define F8_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define F8_ADD(a, b) _mm256_add_ps((a), (b))
#define F8_MUL(a, b) _mm256_mul_ps((a), (b))
#define F8_REDUCE(v) sq_hsum_ymm(v)

static inline __m256i sq_nibbles_ymm(const uint8_t *p) {
    const __m128i x = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(15));
}

static inline float sq_hsum_ymm(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
