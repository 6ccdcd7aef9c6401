import TensorCore
import TestSupport
import XCTest

/// Streaming (online-softmax) attention against the textbook softmax, on every dispatch level.
final class AttentionTests: XCTestCase {
    /// Bounds: NMSE < 1e-12 and every element within 2e-6 * max|v|.
    private func check(_ l: AttentionLayout, nq: Int, p0: Int, nkv: Int? = nil, kvRows: Int, qScale: Float = 1,
                       seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let q = rng.normals(nq * l.qRowStride, scale: qScale)
        let kvCount = max(l.kvHeads * l.kvHeadStride, kvRows * l.kvRowStride)
        let k = rng.normals(kvCount), v = rng.normals(kvCount)
        let expected = Reference.attention(q: q, k: k, v: v, nq: nq, p0: p0, nkv: nkv, layout: l)
        let vmax = v.map(abs).max() ?? 1
        forEachISA { isa in
            var out = [Float](repeating: 0, count: nq * l.outRowStride)
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        out.withUnsafeMutableBufferPointer { op in
                            Kernels.attention(q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!,
                                              out: op.baseAddress!, nq: nq, p0: p0, nkv: nkv, layout: l)
                        }
                    }
                }
            }
            let c = closeness(out, expected)
            let what = "\(isa) heads \(l.nHeads)/\(l.kvHeads) dim \(l.headDim) nq \(nq) p0 \(p0): \(c)"
            XCTAssertLessThan(c.nmse, 1e-12, what, file: file, line: line)
            XCTAssertLessThanOrEqual(c.maxAbsDiff, 2e-6 * vmax, what, file: file, line: line)
        }
    }

    func testDecodeOverKVCache() {
        let l = AttentionLayout.kvCache(nHeads: 4, kvHeads: 2, headDim: 8, maxSeq: 40, scale: 1 / Float(8).squareRoot())
        check(l, nq: 1, p0: 0, kvRows: 40, seed: 1)   // a single key: output is that key's value row
        check(l, nq: 1, p0: 30, kvRows: 40, seed: 2)
    }

    func testPrefillCausalBlocks() {
        let l = AttentionLayout.kvCache(nHeads: 4, kvHeads: 2, headDim: 17, maxSeq: 40, scale: 0.25)
        check(l, nq: 5, p0: 0, kvRows: 40, seed: 3)
        check(l, nq: 17, p0: 10, kvRows: 40, seed: 4)
    }

    /// More keys than one online-softmax block (64), with peaked scores so the running max moves.
    func testManyKeysAcrossSoftmaxBlocks() {
        let l = AttentionLayout.kvCache(nHeads: 2, kvHeads: 1, headDim: 64, maxSeq: 200, scale: 0.125)
        check(l, nq: 3, p0: 130, kvRows: 200, qScale: 4, seed: 5)
        check(l, nq: 70, p0: 0, kvRows: 200, qScale: 4, seed: 6)
    }

    /// Qwen2-0.5B shape: 14 query heads over 2 KV heads of 64 (large enough to split heads on the pool).
    func testGroupedQueryDecodeShape() {
        let l = AttentionLayout.kvCache(nHeads: 14, kvHeads: 2, headDim: 64, maxSeq: 128, scale: 0.125)
        check(l, nq: 2, p0: 100, kvRows: 128, seed: 7)
    }

    /// Vision-encoder shape: not causal, q/k/v packed [seq, heads, dim] as projections produce them.
    func testNonCausalPacked() {
        let l = AttentionLayout.packed(nHeads: 3, kvHeads: 3, headDim: 16, scale: 0.25, causal: false)
        check(l, nq: 70, p0: 0, nkv: 70, kvRows: 70, seed: 8)
        check(l, nq: 5, p0: 0, nkv: 70, kvRows: 70, seed: 9)
    }

    /// One key: softmax weight 1, so the output is exactly that value row, whatever the score.
    func testSingleKeyReturnsValueRow() {
        let l = AttentionLayout.kvCache(nHeads: 1, kvHeads: 1, headDim: 20, maxSeq: 4, scale: 1)
        let q = [Float](repeating: 50, count: 20)
        var rng = SeededRandom(seed: 11)
        let k = rng.normals(80), v = rng.normals(80)
        forEachISA { isa in
            var out = [Float](repeating: 0, count: 20)
            Kernels.attention(q: q, k: k, v: v, out: &out, nq: 1, p0: 0, layout: l)
            XCTAssertEqual(out, Array(v[0..<20]), "\(isa)")
        }
    }
}
