// SHA-256 (FIPS 180-4), used for RGBImage.contentHash and by the tests to compare against Pillow's
// pixel checksums. Portable C (~110 MB/s here), plus the x86 SHA extensions (Zen, Ice Lake and later;
// ~15x faster) picked at run time, because a 12-megapixel photo is 36 MB of RGB to hash per image.
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define SQ_HAVE_SHANI 1
#endif

#include "CImageCodecs.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sq_sha256_block(uint32_t state[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) | ((uint32_t)p[4 * i + 2] << 8) |
               (uint32_t)p[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    state[0] += a, state[1] += b, state[2] += c, state[3] += d;
    state[4] += e, state[5] += f, state[6] += g, state[7] += h;
}

static void sq_sha256_blocks_portable(uint32_t state[8], const uint8_t *p, size_t blocks) {
    for (; blocks > 0; blocks--, p += 64) {
        sq_sha256_block(state, p);
    }
}

#ifdef SQ_HAVE_SHANI
// The same compression function with SHA256RNDS2 (two rounds per instruction) and SHA256MSG1/MSG2
// (message schedule). The state is kept as the ABEF / CDGH register pair those instructions use.
__attribute__((target("sha,sse4.1,ssse3")))
static void sq_sha256_blocks_shani(uint32_t state[8], const uint8_t *p, size_t blocks) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    for (; blocks > 0; blocks--, p += 64) {
        __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), byteswap);
        }
        for (int g = 0; g < 16; g++) {  // 4 rounds per group
            __m128i wg;
            if (g < 4) {
                wg = w[g];
            } else {
                // W[t..t+3] from W[t-16..t-13] (oldest), W[t-12..], W[t-8..], W[t-4..] (newest)
                __m128i t = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                wg = _mm_sha256msg2_epu32(t, w[(g + 3) & 3]);
                w[g & 3] = wg;
            }
            __m128i msg = _mm_add_epi32(wg, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, msg);
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

static int sq_cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9))) {
        return 0;  // SSE4.1, SSSE3
    }
    if (__get_cpuid_max(0, NULL) < 7) {
        return 0;
    }
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1;  // SHA
}
#endif

typedef void (*sq_blocks_fn)(uint32_t state[8], const uint8_t *p, size_t blocks);

static sq_blocks_fn sq_pick_blocks(void) {
#ifdef SQ_HAVE_SHANI
    if (sq_cpu_has_shani()) {
        return sq_sha256_blocks_shani;
    }
#endif
    return sq_sha256_blocks_portable;
}

// Resolved on first use; a benign race (every thread computes the same pointer).
static sq_blocks_fn sq_blocks_impl = NULL;

static void sq_sha256_blocks(uint32_t state[8], const uint8_t *p, size_t blocks) {
    sq_blocks_fn fn = __atomic_load_n(&sq_blocks_impl, __ATOMIC_RELAXED);
    if (fn == NULL) {
        fn = sq_pick_blocks();
        __atomic_store_n(&sq_blocks_impl, fn, __ATOMIC_RELAXED);
    }
    fn(state, p, blocks);
}

int sq_sha256_accelerated(int enable) {
#ifdef SQ_HAVE_SHANI
    sq_blocks_fn fn = enable && sq_cpu_has_shani() ? sq_sha256_blocks_shani : sq_sha256_blocks_portable;
#else
    sq_blocks_fn fn = sq_sha256_blocks_portable;
    (void)enable;
#endif
    __atomic_store_n(&sq_blocks_impl, fn, __ATOMIC_RELAXED);
    return fn != sq_sha256_blocks_portable;
}

void sq_sha256_init(sq_sha256_ctx *ctx) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->state, iv, sizeof iv);
    ctx->length = 0;
    ctx->used = 0;
}

void sq_sha256_update(sq_sha256_ctx *ctx, const uint8_t *data, size_t size) {
    ctx->length += size;
    if (ctx->used > 0) {
        size_t take = 64 - ctx->used < size ? 64 - ctx->used : size;
        memcpy(ctx->block + ctx->used, data, take);
        ctx->used += take, data += take, size -= take;
        if (ctx->used < 64) {
            return;
        }
        sq_sha256_blocks(ctx->state, ctx->block, 1);
        ctx->used = 0;
    }
    size_t blocks = size / 64;
    if (blocks > 0) {
        sq_sha256_blocks(ctx->state, data, blocks);
        data += blocks * 64;
        size -= blocks * 64;
    }
    memcpy(ctx->block, data, size);
    ctx->used = size;
}

void sq_sha256_final(sq_sha256_ctx *ctx, uint8_t out[32]) {
    uint64_t bits = ctx->length * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (ctx->used < 56 ? 56 : 120) - ctx->used;
    for (int i = 0; i < 8; i++) {
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    sq_sha256_update(ctx, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(ctx->state[i] >> 24), out[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8), out[4 * i + 3] = (uint8_t)ctx->state[i];
    }
}

void sq_sha256(const uint8_t *data, size_t size, uint8_t out[32]) {
    sq_sha256_ctx ctx;
    sq_sha256_init(&ctx);
    sq_sha256_update(&ctx, data, size);
    sq_sha256_final(&ctx, out);
}
