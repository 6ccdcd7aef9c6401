import TensorCore
import TestSupport
import XCTest

/// The matmul kernel (decode matvec and prefill register tiles) against the naive Double-accumulating
/// reference, for every dtype, dispatch level and odd shape (column tails, row tails, token tails).
final class MatmulTests: XCTestCase {
    /// Runs Kernels.matmul for every dispatch level and compares with Reference.matmul.
    /// Bounds: NMSE < 1e-10, and every element within 1e-5 * sum_c |w x| (f32 summation error scale).
    private func check(rows: Int, cols: Int, n: Int, dtype: DType, ldy: Int? = nil, seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let w = OwnedBuffer.tensor(name: "w", shape: [rows, cols], values: rng.normals(rows * cols), dtype: dtype)
        let x = rng.normals(n * cols)
        let expected = Reference.matmul(w, x, n: n)
        let wf = w.toFloats()
        var bound = [Float](repeating: 0, count: n * rows)
        for t in 0..<n {
            for r in 0..<rows {
                var s: Float = 0
                for c in 0..<cols { s += abs(wf[r * cols + c] * x[t * cols + c]) }
                bound[t * rows + r] = 1e-5 * s + 1e-30
            }
        }
        let stride = ldy ?? rows
        forEachISA { isa in
            let sentinel: Float = -12345
            var y = [Float](repeating: sentinel, count: n * stride)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    Kernels.matmul(w, xp.baseAddress!, yp.baseAddress!, n: n, ldy: ldy)
                }
            }
            var got = [Float]()
            for t in 0..<n {
                got += y[(t * stride)..<(t * stride + rows)]
                // Columns past `rows` in a wider output row are left alone.
                for r in rows..<stride where y[t * stride + r] != sentinel {
                    XCTFail("\(isa) \(dtype) wrote Y[\(t), \(r)] beyond rows \(rows)", file: file, line: line)
                }
            }
            let c = closeness(got, expected)
            let what = "\(isa) \(dtype) rows \(rows) cols \(cols) n \(n): \(c)"
            XCTAssertLessThan(c.nmse, 1e-10, what, file: file, line: line)
            for i in 0..<got.count where !(abs(got[i] - expected[i]) <= bound[i]) {
                XCTFail("\(what): element \(i) = \(got[i]), expected \(expected[i])", file: file, line: line)
                break
            }
        }
    }

    func testOddShapesAllDTypes() {
        var seed: UInt64 = 1
        for dtype in DType.floatTypes {
            for cols in [1, 7, 64, 65, 1000, 896] {
                for n in [1, 2, 5, 17] {
                    // 13 rows: three full 4-row tiles and a 1-row tail.
                    check(rows: 13, cols: cols, n: n, dtype: dtype, seed: seed)
                    seed += 1
                }
            }
        }
    }

    func testFewerRowsThanTile() {
        for dtype in DType.floatTypes {
            check(rows: 1, cols: 33, n: 1, dtype: dtype, seed: 100)
            check(rows: 3, cols: 130, n: 7, dtype: dtype, seed: 101)
        }
    }

    /// Large enough to run on the pool (rows split across threads, aligned to the row tile).
    func testThreadedRowSplit() {
        check(rows: 203, cols: 896, n: 1, dtype: .bf16, seed: 200)
        check(rows: 203, cols: 896, n: 9, dtype: .f16, seed: 201)
    }

    /// Long prefills make the kernel block columns (4 MB activation panels): n = 300 with 4864 columns
    /// gives blocks of 3456 + 1408, n = 600 with 2000 columns 1728 + 272; later blocks are added into Y.
    func testColumnBlockedPrefill() {
        check(rows: 5, cols: 4864, n: 300, dtype: .bf16, seed: 300)
        check(rows: 5, cols: 2000, n: 600, dtype: .f32, seed: 301)
    }

    /// From 32 tokens the kernel sweeps tokens in L2-sized blocks (512 KB of activations: 126 tokens of
    /// 1000 columns, so 131 tokens are 126 + 5, a token-tile tail; 102 of 1280, so 130 are 102 + 28) and
    /// widens F16/BF16 weight rows to f32 once per block; 13 rows leave a 1-row tail and 1000 columns a
    /// tail below a vector.
    func testTokenBlockedPrefill() {
        for (i, dtype) in DType.floatTypes.enumerated() {
            check(rows: 13, cols: 1000, n: 131, dtype: dtype, seed: 500 + UInt64(i))
        }
        check(rows: 8, cols: 1280, n: 130, dtype: .f16, ldy: 11, seed: 510)
    }

    /// The AVX-512 prefill GEMM (gemm_avx512.c, from 16 tokens): 32-row panels with a masked row tail
    /// (33 rows: one row in the second panel; 50: 18, so 2 in its second vector; 203 threaded: 6 x 32 + 11), 256-column blocks added
    /// into Y with a one-column tail (257) and a sub-vector one (15), 14-token tiles with every tail
    /// (16 = 14 + 2, 29 = 2 x 14 + 1), 480-token blocks (481), an output stride, and a threaded split
    /// whose ranges keep to whole panels. On other ISAs the same shapes check the register-tile path.
    func testPanelGemmEdges() {
        for (i, dtype) in DType.floatTypes.enumerated() {
            let s = 700 + UInt64(i) * 10
            check(rows: 33, cols: 257, n: 16, dtype: dtype, seed: s)
            check(rows: 50, cols: 15, n: 29, dtype: dtype, seed: s + 1)
            check(rows: 64, cols: 512, n: 28, dtype: dtype, ldy: 70, seed: s + 2)
            check(rows: 203, cols: 300, n: 481, dtype: dtype, seed: s + 3)
        }
    }

    func testOutputStrideLeavesOtherColumns() {
        check(rows: 9, cols: 65, n: 5, dtype: .bf16, ldy: 12, seed: 400)
        check(rows: 9, cols: 65, n: 1, dtype: .f32, ldy: 12, seed: 401)
    }

    func testDispatchOverride() {
        defer { Kernels.setISA(nil) }
        XCTAssertEqual(Kernels.setISA(.scalar), .scalar)
        XCTAssertEqual(Kernels.activeISA, .scalar)
        // Asking for more than the CPU has is clamped.
        XCTAssertEqual(Kernels.setISA(.avx512), Kernels.detectedISA)
        Kernels.setISA(nil)
        XCTAssertLessThanOrEqual(Kernels.activeISA, Kernels.detectedISA)
    }
}
