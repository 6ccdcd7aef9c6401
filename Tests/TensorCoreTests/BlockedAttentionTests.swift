import TensorCore
import TestSupport
import XCTest

/// The query-blocked attention kernel (attention_blocked_template.h) against its streamed twin and the
/// textbook softmax, on every dispatch level: head dims 64/80/128 and one with a tail below a vector,
/// query and key counts that are not multiples of the tiles, GQA, causal with a KV-cache prefix and not.
final class BlockedAttentionTests: XCTestCase {
    private func run(_ kernel: AttentionKernel, _ l: AttentionLayout, q: [Float], k: [Float], v: [Float],
                     nq: Int, p0: Int, nkv: Int?) -> [Float] {
        var out = [Float](repeating: .nan, count: nq * l.outRowStride)
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        Kernels.attention(q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!,
                                          out: op.baseAddress!, nq: nq, p0: p0, nkv: nkv, layout: l, kernel: kernel)
                    }
                }
            }
        }
        return out
    }

    /// Blocked vs textbook: NMSE < 1e-12, every element within 2e-6 max|v| (the streamed kernel's own
    /// bounds in AttentionTests); blocked vs streamed within the same.
    private func check(_ l: AttentionLayout, nq: Int, p0: Int, nkv: Int? = nil, kvRows: Int, qScale: Float = 1,
                       seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let q = rng.normals(nq * l.qRowStride, scale: qScale)
        let kvCount = max(l.kvHeads * l.kvHeadStride, kvRows * l.kvRowStride)
        let k = rng.normals(kvCount), v = rng.normals(kvCount)
        let expected = Reference.attention(q: q, k: k, v: v, nq: nq, p0: p0, nkv: nkv, layout: l)
        let vmax = v.map(abs).max() ?? 1
        forEachISA { isa in
            let blocked = run(.blocked, l, q: q, k: k, v: v, nq: nq, p0: p0, nkv: nkv)
            let streamed = run(.streamed, l, q: q, k: k, v: v, nq: nq, p0: p0, nkv: nkv)
            let automatic = run(.automatic, l, q: q, k: k, v: v, nq: nq, p0: p0, nkv: nkv)
            let what = "\(isa) heads \(l.nHeads)/\(l.kvHeads) dim \(l.headDim) nq \(nq) p0 \(p0) causal \(l.causal)"
            for (name, got, want) in [("blocked/reference", blocked, expected), ("blocked/streamed", blocked, streamed),
                                      ("automatic/reference", automatic, expected)] {
                let c = closeness(got, want)
                XCTAssertLessThan(c.nmse, 1e-12, "\(name) \(what): \(c)", file: file, line: line)
                XCTAssertLessThanOrEqual(c.maxAbsDiff, 2e-6 * vmax, "\(name) \(what): \(c)", file: file, line: line)
            }
        }
    }

    /// Vision-encoder shapes: packed q/k/v, not causal, an odd sequence length (tile and panel tails).
    func testNonCausalPackedHeadDims() {
        for (i, hd) in [64, 80, 128, 20].enumerated() {
            let l = AttentionLayout.packed(nHeads: 3, kvHeads: 3, headDim: hd, scale: 1 / Float(hd).squareRoot(),
                                           causal: false)
            check(l, nq: 77, p0: 0, nkv: 77, kvRows: 77, qScale: 3, seed: 100 + UInt64(i))
        }
    }

    /// The ViT's own layout: a fused qkv buffer [n, 3, heads, dim] (VisionOps.segmentAttention), attended
    /// window by window (Qwen2.5-VL's window attention) with window lengths off the tile sizes.
    func testFusedQKVWindows() {
        let heads = 2, hd = 80, dim = heads * hd
        let l = AttentionLayout(nHeads: heads, kvHeads: heads, headDim: hd, qRowStride: 3 * dim, outRowStride: dim,
                                kvHeadStride: hd, kvRowStride: 3 * dim, scale: 1 / Float(hd).squareRoot(),
                                causal: false)
        var rng = SeededRandom(seed: 200)
        let n = 150
        let qkv = rng.normals(n * 3 * dim, scale: 2)
        for (a, b) in [(0, 64), (64, 131), (131, 150)] {
            let seg = Array(qkv[(a * 3 * dim)..<(b * 3 * dim)])
            let q = seg, k = Array(seg[dim...]) + [Float](repeating: 0, count: dim)
            let v = Array(seg[(2 * dim)...]) + [Float](repeating: 0, count: 2 * dim)
            let rows = b - a
            let expected = Reference.attention(q: q, k: k, v: v, nq: rows, p0: 0, nkv: rows, layout: l)
            forEachISA { isa in
                let got = run(.blocked, l, q: q, k: k, v: v, nq: rows, p0: 0, nkv: rows)
                let c = closeness(got, expected)
                XCTAssertLessThan(c.nmse, 1e-12, "\(isa) window \(a)..<\(b): \(c)")
            }
        }
    }

    /// Text prefill: causal over a KV cache, with and without an earlier prefix (p0), GQA groups of 4.
    func testCausalGroupedQuery() {
        for (i, hd) in [64, 80, 128].enumerated() {
            let l = AttentionLayout.kvCache(nHeads: 8, kvHeads: 2, headDim: hd, maxSeq: 160,
                                            scale: 1 / Float(hd).squareRoot())
            check(l, nq: 45, p0: 0, kvRows: 160, qScale: 3, seed: 300 + UInt64(i))
            check(l, nq: 29, p0: 97, kvRows: 160, qScale: 3, seed: 310 + UInt64(i))
        }
    }

    /// Non-causal GQA (packed K/V narrower than Q) and a key count that is not a multiple of any panel.
    func testNonCausalGroupedQuery() {
        let l = AttentionLayout.packed(nHeads: 6, kvHeads: 2, headDim: 64, scale: 0.125, causal: false)
        check(l, nq: 33, p0: 0, nkv: 33, kvRows: 33, qScale: 4, seed: 400)
    }

    /// Fewer keys than one panel and fewer rows than one tile (the padding rows and masked panel lanes).
    func testTinyShapes() {
        let l = AttentionLayout.packed(nHeads: 1, kvHeads: 1, headDim: 80, scale: 0.1, causal: false)
        check(l, nq: 3, p0: 0, nkv: 5, kvRows: 5, seed: 500)
        let c = AttentionLayout.kvCache(nHeads: 2, kvHeads: 1, headDim: 64, maxSeq: 8, scale: 0.125)
        check(c, nq: 1, p0: 0, kvRows: 8, seed: 501)
        check(c, nq: 8, p0: 0, kvRows: 8, seed: 502)
    }

    /// Scores far apart (a peaked softmax, score spread ~4, as AttentionTests uses): the running maximum moves across key blocks
    /// and panels. (Much larger spreads amplify the last-bit differences of the scores' summation orders
    /// through exp beyond these bounds, for either kernel.)
    func testPeakedScoresAcrossBlocks() {
        let l = AttentionLayout.packed(nHeads: 2, kvHeads: 2, headDim: 80, scale: 1 / Float(80).squareRoot(),
                                       causal: false)
        check(l, nq: 40, p0: 0, nkv: 300, kvRows: 300, qScale: 4, seed: 600)
    }
}
