// One token (decode) of Q4_0 rows with AVX-512 BW + VNNI, straight over the row's bytes (included by
// quant_int8_template.h; the layout writer is compiled for every ISA, the kernel for AVX-512 only).
//
// Why: the per-block kernel (i8_row) spends most of each 18-byte block on scale work (a scalar f16
// convert, a scalar product, a broadcast, the offset term), which made Q4_0 decode compute bound at
// ~16 GB/s on one Zen 4 core, and gathering blocks into 512-bit registers costs shuffles of its own.
// Here the weights are not rearranged at all: a row is read as 64-byte chunks, and the *activations*
// (one token, rearranged once per matmul into SQ_C4_BYTES per chunk) are laid out to match the bytes:
//   - every 4-byte lane of a chunk holds quant bytes of at most one block (blocks are 18 bytes, so a
//     block's quants start on an even offset and 16 + 2 scale bytes keep them clear of the next block's),
//     so one vpdpbusd over the low nibbles and one over the high nibbles give each lane a partial integer
//     dot product of one block; the scale bytes and bytes of another chunk meet zero activations;
//   - Q4_0 stores w + 8 as an unsigned nibble, which vpdpbusd takes as is; the 8 comes back exactly as the
//     accumulator's start, -8 times the lane's activation sum;
//   - the lane's weight scale is gathered from the chunk and its predecessor (a block's scale is at most
//     17 bytes before its quants) by one two-source vpermw per chunk, then widened, times the lane's
//     activation scale.
// So 64 weight bytes (3.6 blocks) cost ten vector instructions. A row of 18 * nb bytes is nb * 18 / 64
// whole chunks plus, where that is fractional, a last chunk ending at the row's end whose bytes already
// covered meet zero activations, so no load leaves the row.
//
// Chunk layout (SQ_C4_BYTES = 320): int8 activations facing the low nibbles [64], facing the high
// nibbles [64], int32 accumulator starts [16], f32 activation scales per lane [16], u16 vpermw indices
// of each lane's weight scale [32] (0-31: the previous chunk's words, 32-63: this chunk's; 16-31 unused).

// Writes the chunk layout for one token's quants q and block scales d (cols / 32 blocks).
static void SQ_FN(i8_c4_put)(uint8_t *out, const int8_t *q, const float *d, int64_t cols) {
    const int64_t nb = cols / 32, rb = nb * 18, nfull = rb / 64, nch = sq_c4_chunks(cols);
    for (int64_t k = 0; k < nch; k++) {
        uint8_t *o = out + k * SQ_C4_BYTES;
        // The chunk's first byte in the row; bytes before `fresh` belong to the chunk before (the last chunk).
        const int64_t base = k < nfull ? 64 * k : rb - 64, fresh = k < nfull ? base : 64 * nfull;
        const int64_t prev = 64 * (k < nfull ? k - 1 : nfull - 1);  // the previous chunk's first byte (k > 0)
        int8_t *lo = (int8_t *)o, *hi = (int8_t *)(o + 64);
        int32_t start[16];
        float da[16];
        uint16_t idx[32] = {0};
        int64_t i = base / 18, m = base % 18;  // byte base + 4l + j is byte m of block i (stepped, no divisions)
        for (int l = 0; l < 16; l++) {
            int64_t blk = -1;
            int32_t sum = 0;
            for (int j = 0; j < 4; j++, m == 17 ? (m = 0, i++) : m++) {
                if (base + 4 * l + j < fresh || m < 2) {
                    lo[4 * l + j] = hi[4 * l + j] = 0;
                    continue;
                }
                lo[4 * l + j] = q[32 * i + m - 2];
                hi[4 * l + j] = q[32 * i + 16 + m - 2];
                sum += lo[4 * l + j] + hi[4 * l + j];
                blk = i;
            }
            start[l] = -8 * sum;
            da[l] = blk >= 0 ? d[blk] : 0.0f;
            // A lane without quants points at a real scale (the row's last, always in the last chunk), so
            // that 0 times it stays 0.
            const int64_t at = 18 * (blk >= 0 ? blk : nb - 1);
            idx[l] = (uint16_t)(at >= base ? 32 + (at - base) / 2 : (at - prev) / 2);
        }
        memcpy(o + 128, start, 64);
        memcpy(o + 192, da, 64);
        memcpy(o + 256, idx, 64);
    }
}

#ifdef SQ_I8_ZMM
// Chunk o of the layout against weight chunk cur (prev: the row's chunk before it, for the scales) into acc;
// lay: the layout's vectors already loaded (activations low, high, starts, scales, indices).
SQ_ALWAYS_INLINE __m512 SQ_FN(i8_c4_chunk)(const __m512i *lay, __m512i cur, __m512i prev, __m512 acc) {
    const __m512i low4 = _mm512_set1_epi8(15);
    const __m512i lo = _mm512_and_si512(cur, low4), hi = _mm512_and_si512(_mm512_srli_epi16(cur, 4), low4);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(lay[2], lo, lay[0]), hi, lay[1]);
    const __m512i dwh = _mm512_permutex2var_epi16(prev, lay[4], cur);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(dwh)), _mm512_castsi512_ps(lay[3]));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sc, acc);
}

SQ_ALWAYS_INLINE void SQ_FN(i8_c4_load)(const uint8_t *o, __m512i *lay) {
    for (int i = 0; i < 4; i++) lay[i] = _mm512_loadu_si512((const void *)(o + 64 * i));
    lay[4] = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(o + 256)));  // words 16-31 unused
}

// Rows [r0, r1) of Q4_0 weights W (cols / 32 * 18 >= 64 bytes a row) with the chunk layout c4.
// Loading the chunk's layout vectors up front (i8_c4_load) rather than as memory operands also measured
// ~25% faster from DRAM with clang 21 (it changes the schedule). One load site for every chunk of every row, the last one included, and no unrolling: measured on Zen 4
// with weights in DRAM (4 KB pages), the hardware's per-instruction stride prefetcher is what keeps this
// loop streaming; unrolled loads, several rows at a time or a separate load for the last chunk break the
// stride at every row end, and the kernel fell to ~10 GB/s, slower than i8_row despite half the work.
static void SQ_FN(i8_c4_matvec)(const uint8_t *W, const uint8_t *c4, int64_t cols, float *Y, int64_t r0, int64_t r1) {
    const int64_t rb = cols / 32 * 18, nfull = rb / 64, nch = sq_c4_chunks(cols);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *w = W + (size_t)r * (size_t)rb;
        __m512 acc = _mm512_setzero_ps();
        __m512i prev = _mm512_setzero_si512();
        __m512i lay[5];
#pragma clang loop unroll(disable)
        for (int64_t k = 0; k < nch; k++) {
            const __m512i cur = _mm512_loadu_si512((const void *)(w + (k < nfull ? 64 * k : rb - 64)));
            SQ_FN(i8_c4_load)(c4 + k * SQ_C4_BYTES, lay);
            acc = SQ_FN(i8_c4_chunk)(lay, cur, prev, acc);
            prev = cur;
        }
        Y[r] = _mm512_reduce_add_ps(acc);
    }
}
#endif
