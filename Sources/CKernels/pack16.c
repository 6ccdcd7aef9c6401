// Q8_0 / Q4_0 rows (and, further down, Q6_K, Q4_K, Q5_K and Q5_0 rows) repacked 16 at a time for decode at the
// memory's speed with AVX-512 VNNI (as llama.cpp repacks Q4_0 into its 8x8 interleaved blocks on x86).
//
// Why: in the row-major GGUF layout every 32-element block carries its own f16 scale, so a kernel walking
// one row pays per block a scalar scale convert, a broadcast and a product (Q8_0 also |w| and sign(a, w),
// since vpdpbusd multiplies unsigned by signed bytes): measured on one Emerald Rapids core, Q4_0 and
// Q8_0 decode ran at 6-7 GB/s against 12 GB/s of read bandwidth. Here 16 rows are interleaved so that the
// 32-bit lane l of every vector belongs to row l: a block column of 16 rows is 8 (Q8_0) or 4 (Q4_0)
// vectors, each multiplied by one activation dword broadcast from memory (vpdpbusd's embedded
// broadcast), and the 16 rows' scales are one vector. No horizontal sums, no shuffles, and the same
// weight vectors serve up to 4 tokens (compare lanes, prefill) from registers.
//
// Layout: for each group of 16 rows (g) and block column (b), one unit of 32 + 16 * bq bytes (bq = 32
// for Q8_0, 16 for Q4_0; 544 and 288 bytes: exactly the 16 blocks it replaces), units in (g, b) order:
//   bytes 0-31: the 16 rows' f16 scales d, row l at 2l;
//   then for k = 0 ..< bq / 4, 64 bytes: dword l = quant bytes 4k ..< 4k + 4 of row l's block.
// Q8_0 quants are stored as unsigned w + 128 (w ^ 0x80) and Q4_0 bytes as they are (nibbles w + 8, the
// low nibble element i, the high element i + 16), so each lane's integer dot product is the block's plus
// off * sum(a) over the lane's activations; the accumulator starts at -off * sum(a), which the int8
// activation buffer already holds per token and block (its token groups), so the correction is exact.
//
// Q6_K (the output matrix llama-quantize writes for Q4_0/Q4_K_M files, and part of the FFN in Q4_K_M):
// the row-major kernel (quant_int8_template.h) spends ~12 instructions per 32 weights on unpacking 6-bit
// quants, the signed-by-signed dot product and per-16 scales, and ran at about half the read bandwidth.
// Here a unit is one 256-element super-block column of 16 rows (3360 bytes, the 16 super-blocks it
// replaces), built so that lane l of every vector is row l again:
//   bytes 0-31: the 16 rows' f16 d;
//   bytes 32-287: the int8 scales, sub-block s (elements 16s ..< 16s + 16) at 32 + 16s, row l at byte l;
//   then for p = 0 ..< 8, 384 bytes: ql vectors 4p ..< 4p + 4 (64 bytes each), qh vector p, qh vector p + 8.
// With the 6-bit quant v = w + 32 (0-63) and chunk c = elements 4c ..< 4c + 4 of the super-block, row l's
// 4 bytes of chunk c are: low nibbles in ql vector c % 32 (low nibbles for c < 32, high nibbles for c >= 32)
// at bytes 4l ..< 4l + 4, and top 2 bits in qh vector c / 4 (the sub-block) at the same bytes, bits
// 2 (c % 4) ..< 2 (c % 4) + 2. So sub-blocks p and p + 8 take 4 ql loads, 2 qh loads and a few shifts and
// masks per 64 weights, one vpdpbusd each, with the activation dword broadcast; the accumulator starts at
// -32 * sum(a) over the sub-block (the activation buffer's s16) and its integer dot product is exact, then
// one FMA per sub-block applies d * scale (a vector of the 16 rows') times the activation scale.
//
// Q4_K (the bulk of Q4_K_M files): the same idea, a unit of 16 rows x 256 elements in 2304 bytes (the 16
// super-blocks of 144 it replaces):
//   bytes 0-31: d; 32-63: dmin (f16, row l at 2l);
//   bytes 64-191: sub-block s (32 elements) at 64 + 16s, row l's byte = low 4 bits of its scale | low 4
//   bits of its min << 4; bytes 192-255: at 192 + 16 (s / 2), row l's byte holds for sub-block s the top
//   2 bits of scale (bits 4 (s % 2) + 0-1) and of min (bits 4 (s % 2) + 2-3);
//   bytes 256-2303: quant vector m (0-31) at 256 + 64m, bytes 4l ..< 4l + 4 = row l's chunk m (elements
//   4m ..< 4m + 4, sub-blocks 0-3) in the low nibbles and chunk m + 32 (sub-blocks 4-7) in the high ones.
// The quants are unsigned (0-15): vpdpbusd takes them as they are, no offset; the minimum term is
// dmin * min times the activation block's d * sum(q), as in the row-major kernel. Q5_K (Q5_K_M files) is
// the same unit plus 512 bytes of fifth bits (2816, the 16 blocks of 176 it replaces): vector j (0-7) at
// 2304 + 64j, bit i of a byte the fifth bit of its low-nibble element in quant vector 4j + i and bit 4 + i
// that of its high-nibble element, brought to bit 4 by one 16-bit shift and a mask as for Q5_0 below.
//
// Q5_0 (what Q4_K_M files hold where rows are not whole 256-element super-blocks, e.g. Qwen2-0.5B's 896
// columns): Q4_0's unit plus the fifth bits, 352 bytes for 16 blocks of 22: bytes 0-31 d, 32-287 the
// nibbles as in Q4_0, 288-351 one vector whose lane l byte j bit i is the fifth bit of row l's element
// 4i + j, so that chunk i's bits move to bit 4 of each byte with one 16-bit shift and a mask. The quants
// (w + 16, 0-31) are unsigned; the accumulator starts at -16 * sum(a).
#include "common.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SQ_P16_X86 1
#endif

// Software prefetch distance (bytes ahead in the packed units). Measured on one Emerald Rapids core with
// the Qwen2-0.5B-shaped bench model (single stream / 4 lockstep sequences, tokens/s): none 28.6 / 78.5 (Q4_0)
// and 22.6 / 58.7 (Q8_0); 1 KB 27.1 / 95.1 and 22.4 / 70.8; 4 KB 30.9 / 110.5 and 23.3 / 73.3; 8 KB
// 32.9 / 100.7 and 20.5 / 68.8 (noisy: another job ran on the other core). The hardware prefetcher alone
// leaves the loads waiting, most of all when 4 tokens share each weight vector.
#ifndef SQ_P16_PREFETCH
#define SQ_P16_PREFETCH 4096
#endif

typedef int32_t sq_i32a __attribute__((may_alias));  // activation quants read 4 at a time

#define SQ_P16_Q6K_UNIT 3360
#define SQ_P16_Q4K_UNIT 2304
#define SQ_P16_Q5K_UNIT 2816  // Q4_K's unit, then the fifth bits at SQ_P16_Q5K_H
// Offsets in a Q4_K unit: the low 4 bits of scale and min of sub-block s, their top 2 bits (two sub-blocks
// a byte), quant vector m (0-31).
#define SQ_P16_Q4K_LO(s) (64 + 16 * (s))
#define SQ_P16_Q4K_HI(s) (192 + 16 * ((s) / 2))
#define SQ_P16_Q4K_Q(m) (256 + 64 * (m))
// Q5_K: fifth-bit vector j (0-7) serves quant vectors 4j ..< 4j + 4: bit i of a byte is the fifth bit of its
// low-nibble element in quant vector 4j + i, bit 4 + i that of its high-nibble element.
#define SQ_P16_Q5K_H(j) (2304 + 64 * (j))
// Offsets in a Q6_K unit of ql vector m (0-31) and qh vector s (0-15).
#define SQ_P16_Q6K_QL(m) (288 + 384 * ((m) / 4) + 64 * ((m) % 4))
#define SQ_P16_Q6K_QH(s) (288 + 384 * ((s) % 8) + 256 + 64 * ((s) / 8))

// Elements per unit column (the block a unit covers for each row).
static int64_t sq_p16_block(int dtype) { return dtype == SQ_Q6_K || dtype == SQ_Q4_K || dtype == SQ_Q5_K ? 256 : 32; }

int sq_pack16_supported(int dtype, int64_t rows, int64_t cols) {
    return (dtype == SQ_Q8_0 || dtype == SQ_Q4_0 || dtype == SQ_Q5_0 || dtype == SQ_Q6_K || dtype == SQ_Q4_K ||
            dtype == SQ_Q5_K) && rows > 0 &&
           rows % 16 == 0 && cols > 0 && cols % sq_p16_block(dtype) == 0;
}

static int64_t sq_p16_unit(int dtype) {
    switch (dtype) {
    case SQ_Q8_0: return 544;
    case SQ_Q4_0: return 288;
    case SQ_Q5_0: return 352;
    case SQ_Q4_K: return SQ_P16_Q4K_UNIT;
    case SQ_Q5_K: return SQ_P16_Q5K_UNIT;
    default: return SQ_P16_Q6K_UNIT;
    }
}

int64_t sq_pack16_bytes(int dtype, int64_t rows, int64_t cols) {
    return rows / 16 * (cols / sq_p16_block(dtype)) * sq_p16_unit(dtype);
}

// The 6-bit quant (w + 32) of element e (0-255) of a Q6_K super-block (as quant.c's sq_deq_q6_K reads it).
static inline int sq_q6k_quant(const uint8_t *blk, int e) {
    const int g = e / 128, r = e % 128;
    const int lo = (blk[64 * g + r % 64] >> (4 * (r / 64))) & 0x0F;
    const int hi = (blk[128 + 32 * g + r % 32] >> (2 * (r / 32))) & 0x03;
    return lo | (hi << 4);
}

static void sq_pack16_q6k(const uint8_t *w, uint8_t *P, int64_t cols, int64_t g0, int64_t g1) {
    const int64_t nk = cols / 256;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t k = 0; k < nk; k++) {
            uint8_t *u = P + (g * nk + k) * SQ_P16_Q6K_UNIT;
            memset(u, 0, SQ_P16_Q6K_UNIT);
            for (int l = 0; l < 16; l++) {
                const uint8_t *blk = w + ((16 * g + l) * nk + k) * 210;
                memcpy(u + 2 * l, blk + 208, 2);
                for (int s = 0; s < 16; s++) u[32 + 16 * s + l] = blk[192 + s];
                for (int e = 0; e < 256; e++) {
                    const int v = sq_q6k_quant(blk, e), c = e / 4, at = 4 * l + e % 4;
                    u[SQ_P16_Q6K_QL(c % 32) + at] |= (uint8_t)((v & 15) << (c < 32 ? 0 : 4));
                    u[SQ_P16_Q6K_QH(c / 4) + at] |= (uint8_t)((v >> 4) << (2 * (c % 4)));
                }
            }
        }
}

// The 6-bit quant of row l's element e (0-255) in a packed Q6_K unit.
static inline int sq_p16_q6k_quant(const uint8_t *u, int l, int e) {
    const int c = e / 4, at = 4 * l + e % 4;
    const int lo = (u[SQ_P16_Q6K_QL(c % 32) + at] >> (c < 32 ? 0 : 4)) & 15;
    const int hi = (u[SQ_P16_Q6K_QH(c / 4) + at] >> (2 * (c % 4))) & 3;
    return lo | (hi << 4);
}

// Q4_K, or Q5_K when five (its blocks: 176 bytes, the fifth bits qh[32] before the nibbles).
static void sq_pack16_kq(const int five, const uint8_t *w, uint8_t *P, int64_t cols, int64_t g0, int64_t g1) {
    const int64_t nk = cols / 256, unit = five ? SQ_P16_Q5K_UNIT : SQ_P16_Q4K_UNIT, bb = five ? 176 : 144;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t k = 0; k < nk; k++) {
            uint8_t *u = P + (g * nk + k) * unit;
            memset(u, 0, (size_t)unit);
            for (int l = 0; l < 16; l++) {
                const uint8_t *blk = w + ((16 * g + l) * nk + k) * bb, *qs = blk + (five ? 48 : 16);
                uint8_t hp[8][4] = {{0}};  // this row's bytes of the fifth-bit vectors
                memcpy(u + 2 * l, blk, 2);
                memcpy(u + 32 + 2 * l, blk + 2, 2);
                for (int s = 0; s < 8; s++) {
                    int sc, mn;
                    sq_k_scale_min(blk + 4, s, &sc, &mn);
                    u[SQ_P16_Q4K_LO(s) + l] = (uint8_t)((sc & 15) | (mn & 15) << 4);
                    u[SQ_P16_Q4K_HI(s) + l] |= (uint8_t)(((sc >> 4) | (mn >> 4) << 2) << (4 * (s & 1)));
                }
                for (int e = 0; e < 256; e++) {
                    const int sb = e / 32, c = e / 4, m = c % 32;
                    const int q = (qs[32 * (sb / 2) + e % 32] >> (4 * (sb & 1))) & 15;
                    u[SQ_P16_Q4K_Q(m) + 4 * l + e % 4] |= (uint8_t)(q << (c < 32 ? 0 : 4));
                    if (five) hp[m / 4][e % 4] |= (uint8_t)(((blk[16 + e % 32] >> sb) & 1) << (m % 4 + (c < 32 ? 0 : 4)));
                }
                if (five)
                    for (int j = 0; j < 8; j++) memcpy(u + SQ_P16_Q5K_H(j) + 4 * l, hp[j], 4);
            }
        }
}

// Row l's original Q4_K (Q5_K when five) super-block back from a packed unit.
static void sq_p16_kq_block(const int five, const uint8_t *u, int l, uint8_t *blk) {
    int sc[8], mn[8];
    uint8_t *qs = blk + (five ? 48 : 16);
    memcpy(blk, u + 2 * l, 2);
    memcpy(blk + 2, u + 32 + 2 * l, 2);
    for (int s = 0; s < 8; s++) {
        const int lo = u[SQ_P16_Q4K_LO(s) + l], hi = (u[SQ_P16_Q4K_HI(s) + l] >> (4 * (s & 1))) & 15;
        sc[s] = (lo & 15) | (hi & 3) << 4;
        mn[s] = (lo >> 4) | (hi >> 2) << 4;
    }
    for (int j = 0; j < 4; j++) {  // the inverse of sq_k_scale_min
        blk[4 + j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        blk[8 + j] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        blk[12 + j] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    memset(blk + 16, 0, five ? 160 : 128);
    for (int e = 0; e < 256; e++) {
        const int sb = e / 32, c = e / 4, m = c % 32;
        const int q = (u[SQ_P16_Q4K_Q(m) + 4 * l + e % 4] >> (c < 32 ? 0 : 4)) & 15;
        qs[32 * (sb / 2) + e % 32] |= (uint8_t)(q << (4 * (sb & 1)));
        if (five) {
            const int h = (u[SQ_P16_Q5K_H(m / 4) + 4 * l + e % 4] >> (m % 4 + (c < 32 ? 0 : 4))) & 1;
            blk[16 + e % 32] |= (uint8_t)(h << sb);
        }
    }
}

static void sq_pack16_q5_0(const uint8_t *w, uint8_t *P, int64_t cols, int64_t g0, int64_t g1) {
    const int64_t nb = cols / 32;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *u = P + (g * nb + b) * 352;
            memset(u, 0, 352);
            for (int l = 0; l < 16; l++) {
                const uint8_t *blk = w + ((16 * g + l) * nb + b) * 22;
                memcpy(u + 2 * l, blk, 2);
                for (int k = 0; k < 4; k++) memcpy(u + 32 + 64 * k + 4 * l, blk + 6 + 4 * k, 4);
                const uint32_t qh = sq_le32(blk + 2);
                uint8_t hb[4] = {0};
                for (int e = 0; e < 32; e++) hb[e % 4] |= (uint8_t)(((qh >> e) & 1u) << (e / 4));
                memcpy(u + 288 + 4 * l, hb, 4);
            }
        }
}

// Row l's original Q5_0 block (22 bytes) back from a packed unit.
static void sq_p16_q5_0_block(const uint8_t *u, int l, uint8_t *blk) {
    memcpy(blk, u + 2 * l, 2);
    uint32_t qh = 0;
    uint8_t hb[4];
    memcpy(hb, u + 288 + 4 * l, 4);
    for (int e = 0; e < 32; e++) qh |= (uint32_t)((hb[e % 4] >> (e / 4)) & 1) << e;
    for (int i = 0; i < 4; i++) blk[2 + i] = (uint8_t)(qh >> (8 * i));
    for (int k = 0; k < 4; k++) memcpy(blk + 6 + 4 * k, u + 32 + 64 * k + 4 * l, 4);
}

void sq_pack16(int dtype, const void *W, void *P, int64_t cols, int64_t g0, int64_t g1) {
    if (dtype == SQ_Q5_0) {
        sq_pack16_q5_0((const uint8_t *)W, (uint8_t *)P, cols, g0, g1);
        return;
    }
    if (dtype == SQ_Q4_K || dtype == SQ_Q5_K) {
        sq_pack16_kq(dtype == SQ_Q5_K, (const uint8_t *)W, (uint8_t *)P, cols, g0, g1);
        return;
    }
    if (dtype == SQ_Q6_K) {
        sq_pack16_q6k((const uint8_t *)W, (uint8_t *)P, cols, g0, g1);
        return;
    }
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, bb = q8 ? 34 : 18, bq = q8 ? 32 : 16, unit = sq_p16_unit(dtype);
    const uint8_t *w = (const uint8_t *)W;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *u = (uint8_t *)P + (g * nb + b) * unit;
            for (int l = 0; l < 16; l++) {
                const uint8_t *blk = w + ((16 * g + l) * nb + b) * bb;
                memcpy(u + 2 * l, blk, 2);
                for (int64_t k = 0; k < bq / 4; k++)
                    for (int e = 0; e < 4; e++) u[32 + 64 * k + 4 * l + e] = blk[2 + 4 * k + e] ^ (q8 ? 0x80 : 0);
            }
        }
}

void sq_pack16_row(int dtype, const void *P, int64_t cols, int64_t r, float *out) {
    if (dtype == SQ_Q5_0) {  // the original blocks rebuilt and dequantized as quant.c does it
        const int64_t nb = cols / 32, g = r / 16;
        uint8_t blk[22];
        for (int64_t b = 0; b < nb; b++) {
            sq_p16_q5_0_block((const uint8_t *)P + (g * nb + b) * 352, (int)(r % 16), blk);
            sq_dequantize_row(SQ_Q5_0, blk, out + 32 * b, 32);
        }
        return;
    }
    if (dtype == SQ_Q4_K || dtype == SQ_Q5_K) {  // the original block rebuilt and dequantized as quant.c does it
        const int64_t nk = cols / 256, g = r / 16, unit = sq_p16_unit(dtype);
        uint8_t blk[176];
        for (int64_t k = 0; k < nk; k++) {
            sq_p16_kq_block(dtype == SQ_Q5_K, (const uint8_t *)P + (g * nk + k) * unit, (int)(r % 16), blk);
            sq_dequantize_row(dtype, blk, out + 256 * k, 256);
        }
        return;
    }
    if (dtype == SQ_Q6_K) {  // as quant.c's sq_deq_q6_K, so the values are bit-identical
        const int64_t nk = cols / 256, g = r / 16;
        const int l = (int)(r % 16);
        for (int64_t k = 0; k < nk; k++) {
            const uint8_t *u = (const uint8_t *)P + (g * nk + k) * SQ_P16_Q6K_UNIT;
            const float d = sq_f16_to_f32(sq_le16(u + 2 * l));
            for (int e = 0; e < 256; e++) {
                const float ds = d * (float)(int8_t)u[32 + 16 * (e / 16) + l];
                out[256 * k + e] = ds * (float)(sq_p16_q6k_quant(u, l, e) - 32);
            }
        }
        return;
    }
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, unit = sq_p16_unit(dtype), g = r / 16, l = r % 16;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = (const uint8_t *)P + (g * nb + b) * unit;
        const float d = sq_f16_to_f32(sq_le16(u + 2 * l));
        float *y = out + 32 * b;
        for (int k = 0; k < (q8 ? 8 : 4); k++)
            for (int e = 0; e < 4; e++) {
                const uint8_t byte = u[32 + 64 * k + 4 * l + e];
                if (q8) {
                    y[4 * k + e] = (float)(int8_t)(byte ^ 0x80) * d;
                } else {  // as quant.c's sq_deq_q4_0, so the values are bit-identical
                    y[4 * k + e] = d * (float)((byte & 0x0F) - 8);
                    y[16 + 4 * k + e] = d * (float)((byte >> 4) - 8);
                }
            }
    }
}

// -sum(q) of token t's block b, from the activation buffer's 4-token groups (quant_int8_template.h).
static inline int32_t sq_p16_negsum(sq_actp a, int64_t nb, int64_t t, int64_t b) {
    int32_t v;
    memcpy(&v, a.g4 + ((t / 4) * nb + b) * SQ_G4_BYTES + 128 + 4 * (t % 4), 4);
    return v;
}

// MARK: Portable twin (any ISA; what the tests hold the AVX-512 kernel to)

static void sq_matmul_pack16_scalar(int dtype, const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols,
                                    int64_t ldy, int64_t g0, int64_t g1) {
    const int q8 = dtype == SQ_Q8_0;
    const int64_t nb = cols / 32, unit = sq_p16_unit(dtype);
    for (int64_t t = 0; t < n; t++)
        for (int64_t g = g0; g < g1; g++) {
            float acc[16] = {0};
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *u = P + (g * nb + b) * unit;
                const int8_t *q = a.q + t * cols + 32 * b;
                const int32_t start = (q8 ? 128 : 8) * sq_p16_negsum(a, nb, t, b);
                for (int l = 0; l < 16; l++) {
                    int32_t dot = start;
                    if (q8) {
                        for (int k = 0; k < 8; k++)
                            for (int e = 0; e < 4; e++) dot += (int32_t)u[32 + 64 * k + 4 * l + e] * q[4 * k + e];
                    } else {
                        for (int k = 0; k < 4; k++)
                            for (int e = 0; e < 4; e++) {
                                const uint8_t byte = u[32 + 64 * k + 4 * l + e];
                                dot += (int32_t)(byte & 15) * q[4 * k + e] + (int32_t)(byte >> 4) * q[16 + 4 * k + e];
                            }
                    }
                    const float dw = sq_f16_to_f32(sq_le16(u + 2 * l));
                    acc[l] = fmaf((float)dot, dw * a.d[t * nb + b], acc[l]);
                }
            }
            for (int l = 0; l < 16; l++) Y[t * ldy + 16 * g + l] = acc[l];
        }
}

static void sq_matmul_pack16_q6k_scalar(const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols, int64_t ldy,
                                        int64_t g0, int64_t g1) {
    const int64_t nk = cols / 256, nb = cols / 32;
    for (int64_t t = 0; t < n; t++)
        for (int64_t g = g0; g < g1; g++)
            for (int l = 0; l < 16; l++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < nk; k++) {
                    const uint8_t *u = P + (g * nk + k) * SQ_P16_Q6K_UNIT;
                    const float dw = sq_f16_to_f32(sq_le16(u + 2 * l));
                    for (int s = 0; s < 16; s++) {
                        const int8_t *q = a.q + t * cols + 256 * k + 16 * s;
                        int32_t dot = -32 * a.s16[t * (cols / 16) + 16 * k + s];
                        for (int e = 0; e < 16; e++) dot += sq_p16_q6k_quant(u, l, 16 * s + e) * q[e];
                        const float sc = (float)(int8_t)u[32 + 16 * s + l] * dw;
                        acc = fmaf((float)dot, sc * a.d[t * nb + 8 * k + s / 2], acc);
                    }
                }
                Y[t * ldy + 16 * g + l] = acc;
            }
}

static void sq_matmul_pack16_q5_0_scalar(const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols, int64_t ldy,
                                         int64_t g0, int64_t g1) {
    const int64_t nb = cols / 32;
    for (int64_t t = 0; t < n; t++)
        for (int64_t g = g0; g < g1; g++)
            for (int l = 0; l < 16; l++) {
                float acc = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    uint8_t blk[22];
                    sq_p16_q5_0_block(P + (g * nb + b) * 352, l, blk);
                    const uint32_t qh = sq_le32(blk + 2);
                    const int8_t *q = a.q + t * cols + 32 * b;
                    int32_t dot = 16 * sq_p16_negsum(a, nb, t, b);
                    for (int j = 0; j < 16; j++) {
                        dot += ((blk[6 + j] & 15) | (int)((qh >> j) & 1u) << 4) * q[j];
                        dot += ((blk[6 + j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4) * q[16 + j];
                    }
                    acc = fmaf((float)dot, sq_f16_to_f32(sq_le16(blk)) * a.d[t * nb + b], acc);
                }
                Y[t * ldy + 16 * g + l] = acc;
            }
}

static void sq_matmul_pack16_kq_scalar(const int five, const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols,
                                       int64_t ldy, int64_t g0, int64_t g1) {
    const int64_t nk = cols / 256, nb = cols / 32, unit = five ? SQ_P16_Q5K_UNIT : SQ_P16_Q4K_UNIT;
    for (int64_t t = 0; t < n; t++)
        for (int64_t g = g0; g < g1; g++)
            for (int l = 0; l < 16; l++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < nk; k++) {
                    uint8_t blk[176];
                    sq_p16_kq_block(five, P + (g * nk + k) * unit, l, blk);
                    const uint8_t *qs = blk + (five ? 48 : 16);
                    const float d = sq_f16_to_f32(sq_le16(blk)), dmin = sq_f16_to_f32(sq_le16(blk + 2));
                    for (int s = 0; s < 8; s++) {
                        int sc, mn;
                        sq_k_scale_min(blk + 4, s, &sc, &mn);
                        const int8_t *q = a.q + t * cols + 256 * k + 32 * s;
                        int32_t dot = 0;
                        for (int e = 0; e < 32; e++) {
                            const int hb = five ? ((blk[16 + e] >> s) & 1) << 4 : 0;
                            dot += (((qs[32 * (s / 2) + e] >> (4 * (s & 1))) & 15) | hb) * q[e];
                        }
                        const int64_t b = t * nb + 8 * k + s;
                        acc = fmaf((float)dot, ((float)sc * d) * a.d[b], acc);
                        acc = fmaf(-((float)mn * dmin), a.s[b], acc);
                    }
                }
                Y[t * ldy + 16 * g + l] = acc;
            }
}

// MARK: AVX-512 VNNI

#ifdef SQ_P16_X86
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)

// One group of 16 rows of a 32-element block type dt (Q8_0, Q4_0 or Q5_0: a constant after inlining, as is
// nt <= 4; its units at u0) for tokens t0 ..< t0 + nt: Y[t, row0 ..< row0 + 16].
static inline __attribute__((always_inline)) void p16_group_avx512(const int dt, const int nt, const uint8_t *u0,
                                                                   sq_actp a, int64_t nb, int64_t cols, int64_t t0,
                                                                   float *Y, int64_t ldy, int64_t row0) {
    const int q8 = dt == SQ_Q8_0, q5 = dt == SQ_Q5_0;
    const int64_t unit = sq_p16_unit(dt);
    const int32_t off = q8 ? 128 : q5 ? 16 : 8;
    const __m512i low4 = _mm512_set1_epi8(15), bit4 = _mm512_set1_epi8(16);
    __m512 acc[4];
    for (int j = 0; j < nt; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *u = u0 + b * unit;
#if SQ_P16_PREFETCH
        for (int64_t o = 0; o < unit; o += 64) _mm_prefetch((const char *)(u + SQ_P16_PREFETCH + o), _MM_HINT_T0);
#endif
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)u));
        __m512i i0[4], i1[4];
        const sq_i32a *qa[4];
        for (int j = 0; j < nt; j++) {
            qa[j] = (const sq_i32a *)(a.q + (t0 + j) * cols + 32 * b);
            i0[j] = _mm512_set1_epi32(off * sq_p16_negsum(a, nb, t0 + j, b));
            i1[j] = _mm512_setzero_si512();
        }
        if (q8) {
            for (int k = 0; k < 8; k += 2) {
                const __m512i w0 = _mm512_loadu_si512((const void *)(u + 32 + 64 * k));
                const __m512i w1 = _mm512_loadu_si512((const void *)(u + 96 + 64 * k));
                for (int j = 0; j < nt; j++) {
                    i0[j] = _mm512_dpbusd_epi32(i0[j], w0, _mm512_set1_epi32(qa[j][k]));
                    i1[j] = _mm512_dpbusd_epi32(i1[j], w1, _mm512_set1_epi32(qa[j][k + 1]));
                }
            }
        } else {
            const __m512i qh = q5 ? _mm512_loadu_si512((const void *)(u + 288)) : _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_loadu_si512((const void *)(u + 32 + 64 * k));
                __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
                if (q5) {  // Q5_0's fifth bits of chunk k (bit k of each byte) and chunk 4 + k (bit 4 + k) to bit 4
                    lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16(qh, 4 - k), bit4));
                    hi = _mm512_or_si512(hi, _mm512_and_si512(k ? _mm512_srli_epi16(qh, k) : qh, bit4));
                }
                for (int j = 0; j < nt; j++) {
                    i0[j] = _mm512_dpbusd_epi32(i0[j], lo, _mm512_set1_epi32(qa[j][k]));
                    i1[j] = _mm512_dpbusd_epi32(i1[j], hi, _mm512_set1_epi32(qa[j][4 + k]));
                }
            }
        }
        for (int j = 0; j < nt; j++) {
            const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a.d[(t0 + j) * nb + b]));
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0[j], i1[j])), scale, acc[j]);
        }
    }
    for (int j = 0; j < nt; j++) _mm512_storeu_ps(Y + (t0 + j) * ldy + row0, acc[j]);
}

// One group of 16 Q6_K rows (its units at u0, nk of them) for tokens t0 ..< t0 + nt (nt <= 4, a constant).
static inline __attribute__((always_inline)) void p16_q6k_group_avx512(const int nt, const uint8_t *u0, sq_actp a,
                                                                       int64_t nk, int64_t cols, int64_t t0,
                                                                       float *Y, int64_t ldy, int64_t row0) {
    const int64_t nb = cols / 32, n16 = cols / 16;
    const __m512i low4 = _mm512_set1_epi8(15), top2 = _mm512_set1_epi8(0x30);
    __m512 acc[4];
    for (int j = 0; j < nt; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nk; k++) {
        const uint8_t *u = u0 + k * SQ_P16_Q6K_UNIT;
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)u));
        const sq_i32a *qa[4];
        for (int j = 0; j < nt; j++) qa[j] = (const sq_i32a *)(a.q + (t0 + j) * cols + 256 * k);
        for (int p = 0; p < 8; p++) {  // sub-blocks p (i0) and p + 8 (i1)
            const uint8_t *pp = u + SQ_P16_Q6K_QL(4 * p);
#if SQ_P16_PREFETCH
            // An eighth of the unit ahead per step: a burst of 53 prefetches at the unit's start measured
            // slower (it fills the core's miss buffers at once).
            for (int64_t o = 420 * p; o < 420 * p + 420; o += 64) _mm_prefetch((const char *)(u + SQ_P16_PREFETCH + o), _MM_HINT_T0);
#endif
            __m512i i0[4], i1[4];
            for (int j = 0; j < nt; j++) {
                const int32_t *s16 = a.s16 + (t0 + j) * n16 + 16 * k;
                i0[j] = _mm512_set1_epi32(-32 * s16[p]);
                i1[j] = _mm512_set1_epi32(-32 * s16[p + 8]);
            }
            const __m512i h0 = _mm512_loadu_si512((const void *)(pp + 256)), h1 = _mm512_loadu_si512((const void *)(pp + 320));
#pragma clang loop unroll(full)
            for (int i = 0; i < 4; i++) {
                const __m512i v = _mm512_loadu_si512((const void *)(pp + 64 * i));
                // Bits 2i, 2i + 1 of each qh byte to bits 4, 5 (16-bit shifts: the mask drops what crosses bytes).
                __m512i t0b, t1b;
                if (i == 0) { t0b = _mm512_slli_epi16(h0, 4); t1b = _mm512_slli_epi16(h1, 4); }
                else if (i == 1) { t0b = _mm512_slli_epi16(h0, 2); t1b = _mm512_slli_epi16(h1, 2); }
                else if (i == 2) { t0b = h0; t1b = h1; }
                else { t0b = _mm512_srli_epi16(h0, 2); t1b = _mm512_srli_epi16(h1, 2); }
                const __m512i w0 = _mm512_or_si512(_mm512_and_si512(v, low4), _mm512_and_si512(t0b, top2));
                const __m512i w1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), low4), _mm512_and_si512(t1b, top2));
                for (int j = 0; j < nt; j++) {
                    i0[j] = _mm512_dpbusd_epi32(i0[j], w0, _mm512_set1_epi32(qa[j][4 * p + i]));
                    i1[j] = _mm512_dpbusd_epi32(i1[j], w1, _mm512_set1_epi32(qa[j][32 + 4 * p + i]));
                }
            }
            const __m512 sc0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(u + 32 + 16 * p)))), dw);
            const __m512 sc1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(u + 160 + 16 * p)))), dw);
            for (int j = 0; j < nt; j++) {
                const float *ad = a.d + (t0 + j) * nb + 8 * k;
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[j]), _mm512_mul_ps(sc0, _mm512_set1_ps(ad[p / 2])), acc[j]);
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[j]), _mm512_mul_ps(sc1, _mm512_set1_ps(ad[4 + p / 2])), acc[j]);
            }
        }
    }
    for (int j = 0; j < nt; j++) _mm512_storeu_ps(Y + (t0 + j) * ldy + row0, acc[j]);
}

// One group of 16 Q4_K rows (Q5_K when five; nk units at u0) for tokens t0 ..< t0 + nt (nt <= 4, a constant). The quants
// are unsigned (0-15), so each sub-block's integer dot product needs no correction; its minimum comes in
// as dmin * m times the activation block's d * sum(q) (a.s), as in the row-major kernel.
static inline __attribute__((always_inline)) void p16_kq_group_avx512(const int five, const int nt, const uint8_t *u0,
                                                                      sq_actp a, int64_t nk, int64_t cols, int64_t t0,
                                                                      float *Y, int64_t ldy, int64_t row0) {
    const int64_t nb = cols / 32, unit = five ? SQ_P16_Q5K_UNIT : SQ_P16_Q4K_UNIT;
    const __m512i low4 = _mm512_set1_epi8(15), low4d = _mm512_set1_epi32(15), low2d = _mm512_set1_epi32(3);
    const __m512i bit4 = _mm512_set1_epi8(16);
    __m512 acc[4];
    for (int j = 0; j < nt; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nk; k++) {
        const uint8_t *u = u0 + k * unit;
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)u));
        const __m512 dminv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(u + 32)));
        const sq_i32a *qa[4];
        for (int j = 0; j < nt; j++) qa[j] = (const sq_i32a *)(a.q + (t0 + j) * cols + 256 * k);
        for (int p = 0; p < 4; p++) {  // sub-blocks p (low nibbles, i0) and p + 4 (high nibbles, i1)
#if SQ_P16_PREFETCH
            for (int64_t o = unit / 4 * p; o < unit / 4 * (p + 1); o += 64)
                _mm_prefetch((const char *)(u + SQ_P16_PREFETCH + o), _MM_HINT_T0);
#endif
            __m512i i0[4], i1[4], h[2];
            for (int j = 0; j < nt; j++) i0[j] = i1[j] = _mm512_setzero_si512();
            if (five)
                for (int x = 0; x < 2; x++) h[x] = _mm512_loadu_si512((const void *)(u + SQ_P16_Q5K_H(2 * p + x)));
#pragma clang loop unroll(full)
            for (int i = 0; i < 8; i++) {
                const __m512i v = _mm512_loadu_si512((const void *)(u + SQ_P16_Q4K_Q(8 * p + i)));
                __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
                if (five) {  // bit i % 4 (low nibbles) and 4 + i % 4 (high) of the byte to bit 4
                    const __m512i hv = h[i / 4];
                    lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16(hv, 4 - i % 4), bit4));
                    hi = _mm512_or_si512(hi, _mm512_and_si512(i % 4 ? _mm512_srli_epi16(hv, i % 4) : hv, bit4));
                }
                for (int j = 0; j < nt; j++) {
                    i0[j] = _mm512_dpbusd_epi32(i0[j], lo, _mm512_set1_epi32(qa[j][8 * p + i]));
                    i1[j] = _mm512_dpbusd_epi32(i1[j], hi, _mm512_set1_epi32(qa[j][32 + 8 * p + i]));
                }
            }
            __m512 scd[2], mnd[2];
            for (int h = 0; h < 2; h++) {
                const int s = p + 4 * h;
                const __m512i lo = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(u + SQ_P16_Q4K_LO(s))));
                const __m512i hi = _mm512_srli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(u + SQ_P16_Q4K_HI(s)))), 4 * (s & 1));
                const __m512i sc = _mm512_or_si512(_mm512_and_si512(lo, low4d), _mm512_slli_epi32(_mm512_and_si512(hi, low2d), 4));
                const __m512i mn = _mm512_or_si512(_mm512_srli_epi32(lo, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hi, 2), low2d), 4));
                scd[h] = _mm512_mul_ps(_mm512_cvtepi32_ps(sc), dv);
                mnd[h] = _mm512_mul_ps(_mm512_cvtepi32_ps(mn), dminv);
            }
            for (int j = 0; j < nt; j++) {
                const int64_t b = (t0 + j) * nb + 8 * k + p;
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[j]), _mm512_mul_ps(scd[0], _mm512_set1_ps(a.d[b])), acc[j]);
                acc[j] = _mm512_fnmadd_ps(mnd[0], _mm512_set1_ps(a.s[b]), acc[j]);
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[j]), _mm512_mul_ps(scd[1], _mm512_set1_ps(a.d[b + 4])), acc[j]);
                acc[j] = _mm512_fnmadd_ps(mnd[1], _mm512_set1_ps(a.s[b + 4]), acc[j]);
            }
        }
    }
    for (int j = 0; j < nt; j++) _mm512_storeu_ps(Y + (t0 + j) * ldy + row0, acc[j]);
}

static void sq_matmul_pack16_avx512(int dtype, const uint8_t *P, sq_actp a, float *Y, int64_t n, int64_t cols,
                                    int64_t ldy, int64_t g0, int64_t g1) {
    const int64_t nb = cols / 32, nk = cols / 256, group_bytes = cols / sq_p16_block(dtype) * sq_p16_unit(dtype);
    // Tokens in blocks whose int8 activations stay in L2 (~256 KB), every group of rows swept by each
    // block in steps of 4 tokens: a group (16 rows) is read from memory once per block and from L1 by the
    // block's later steps. STEP(nt) runs group g (units at u) for tokens t ..< t + nt.
    int64_t tb = (256 * 1024) / cols;
    tb = tb < 4 ? 4 : tb / 4 * 4;
#define SQ_P16_SWEEP(STEP)                                                                      \
    for (int64_t b0 = 0; b0 < n; b0 += tb) {                                                    \
        const int64_t b1 = b0 + tb < n ? b0 + tb : n;                                           \
        for (int64_t g = g0; g < g1; g++) {                                                     \
            const uint8_t *u = P + g * group_bytes;                                             \
            int64_t t = b0;                                                                     \
            for (; t + 4 <= b1; t += 4) STEP(4);                                                \
            switch (b1 - t) {                                                                   \
            case 1: STEP(1); break;                                                             \
            case 2: STEP(2); break;                                                             \
            case 3: STEP(3); break;                                                             \
            default: break;                                                                     \
            }                                                                                   \
        }                                                                                       \
    }
#define SQ_P16_Q8_0(nt) p16_group_avx512(SQ_Q8_0, (nt), u, a, nb, cols, t, Y, ldy, 16 * g)
#define SQ_P16_Q4_0(nt) p16_group_avx512(SQ_Q4_0, (nt), u, a, nb, cols, t, Y, ldy, 16 * g)
#define SQ_P16_Q5_0(nt) p16_group_avx512(SQ_Q5_0, (nt), u, a, nb, cols, t, Y, ldy, 16 * g)
#define SQ_P16_Q4_K(nt) p16_kq_group_avx512(0, (nt), u, a, nk, cols, t, Y, ldy, 16 * g)
#define SQ_P16_Q5_K(nt) p16_kq_group_avx512(1, (nt), u, a, nk, cols, t, Y, ldy, 16 * g)
#define SQ_P16_Q6_K(nt) p16_q6k_group_avx512((nt), u, a, nk, cols, t, Y, ldy, 16 * g)
    switch (dtype) {
    case SQ_Q8_0: SQ_P16_SWEEP(SQ_P16_Q8_0) break;
    case SQ_Q4_0: SQ_P16_SWEEP(SQ_P16_Q4_0) break;
    case SQ_Q5_0: SQ_P16_SWEEP(SQ_P16_Q5_0) break;
    case SQ_Q4_K: SQ_P16_SWEEP(SQ_P16_Q4_K) break;
    case SQ_Q5_K: SQ_P16_SWEEP(SQ_P16_Q5_K) break;
    case SQ_Q6_K: SQ_P16_SWEEP(SQ_P16_Q6_K) break;
    default: break;
    }
#undef SQ_P16_Q8_0
#undef SQ_P16_Q4_0
#undef SQ_P16_Q5_0
#undef SQ_P16_Q4_K
#undef SQ_P16_Q5_K
#undef SQ_P16_Q6_K
#undef SQ_P16_SWEEP
}

#pragma clang attribute pop
#endif

void sq_matmul_pack16(int dtype, const void *P, const void *act, float *Y, int64_t n, int64_t cols, int64_t ldy,
                      int64_t g0, int64_t g1) {
    if (n <= 0 || g1 <= g0 || !sq_pack16_supported(dtype, 16, cols)) return;
    const sq_actp a = sq_act_parts((void *)act, n, cols);
#ifdef SQ_P16_X86
    if (sq_get_isa() == SQ_ISA_AVX512) {
        sq_matmul_pack16_avx512(dtype, (const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
        return;
    }
#endif
    if (dtype == SQ_Q6_K) sq_matmul_pack16_q6k_scalar((const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
    else if (dtype == SQ_Q4_K || dtype == SQ_Q5_K)
        sq_matmul_pack16_kq_scalar(dtype == SQ_Q5_K, (const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
    else if (dtype == SQ_Q5_0) sq_matmul_pack16_q5_0_scalar((const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
    else sq_matmul_pack16_scalar(dtype, (const uint8_t *)P, a, Y, n, cols, ldy, g0, g1);
}

int sq_pack16_preferred(int dtype, int64_t rows, int64_t cols) {
    return sq_pack16_supported(dtype, rows, cols) && sq_get_isa() == SQ_ISA_AVX512;
}
