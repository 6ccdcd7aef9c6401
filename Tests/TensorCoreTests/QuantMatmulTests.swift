import TensorCore
import TestSupport
import XCTest

/// The f32-activation matmul over block-quantized weights (Kernels.matmulF32Activations, the int8
/// path's twin: fused Q8_0/Q4_0 decode paths, the per-block dequantize path of the other types, the
/// dequantized-panel prefill path) against the reference twin: Reference.matmul
/// dequantizes with the Swift twin of gguf-py's formulas and accumulates in Double. Every dequantized
/// weight is exact in f32 (an f16 scale times a small integer), so the kernels differ from the
/// reference only by f32 summation order: the same bounds as the float matmul tests hold.
final class QuantMatmulTests: XCTestCase {
    /// Random blocks of `dtype` for a [rows, cols] matrix: random quant bits, with the f16 scales set to
    /// finite values of a realistic size (random bits would give inf/NaN scales).
    static func randomBlocks(_ dtype: DType, rows: Int, cols: Int, rng: inout SeededRandom) -> TensorView {
        let nBlocks = rows * cols / dtype.blockSize
        var bytes = (0..<nBlocks * dtype.blockBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        func put(_ v: Float, at o: Int) {
            let h = Half.floatToF16(v)
            bytes[o] = UInt8(h & 0xFF)
            bytes[o + 1] = UInt8(h >> 8)
        }
        for b in 0..<nBlocks {
            let o = b * dtype.blockBytes
            let d = Float(rng.uniform() * 0.02 + 0.001) * (rng.next() & 1 == 0 ? 1 : -1)
            switch dtype {
            case .q6_K: put(d, at: o + 208)
            case .q4_1, .q5_1, .q4_K, .q5_K:
                put(abs(d), at: o)
                put(Float(rng.uniform() * 0.01), at: o + 2)
            default: put(d, at: o)
            }
        }
        return OwnedBuffer.tensor(name: "w.\(dtype)", shape: [rows, cols], dtype: dtype, bytes: bytes)
    }

    private func check(_ dtype: DType, rows: Int, cols: Int, n: Int, ldy: Int? = nil, seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let w = Self.randomBlocks(dtype, rows: rows, cols: cols, rng: &rng)
        let x = rng.normals(n * cols)
        let expected = Reference.matmul(w, x, n: n)
        let wf = Reference.dequantize(dtype, w.data, count: w.count)
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
                    Kernels.matmulF32Activations(w, xp.baseAddress!, yp.baseAddress!, n: n, ldy: ldy)
                }
            }
            var got = [Float]()
            for t in 0..<n {
                got += y[(t * stride)..<(t * stride + rows)]
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

    func testEveryQuantizedTypeAndShape() {
        var seed: UInt64 = 1000
        for dtype in DType.quantizedTypes {
            for blocks in [1, 2, 3] {
                for n in [1, 2, 7] {
                    // 13 rows: three full 4-row tiles and a 1-row tail; odd block counts per row.
                    check(dtype, rows: 13, cols: blocks * dtype.blockSize, n: n, seed: seed)
                    seed += 1
                }
            }
        }
    }

    /// Q8_0 and Q4_0 decode: the fused in-register path with an odd block count (the two-block loop's tail).
    func testFusedDecodeLongRows() {
        for dtype in [DType.q8_0, .q4_0] {
            check(dtype, rows: 9, cols: 32 * 37, n: 1, seed: 2000)
            check(dtype, rows: 5, cols: 4096, n: 1, ldy: 8, seed: 2001)
        }
    }

    /// Prefill over several dequantized panels (512 KB panels of 4096-long rows hold 32 rows) and on
    /// the pool (rows split across threads).
    func testPanelsAndThreads() {
        check(.q8_0, rows: 70, cols: 4096, n: 6, ldy: 75, seed: 3000)
        check(.q4_K, rows: 70, cols: 4096, n: 3, seed: 3001)
        check(.q4_0, rows: 203, cols: 1024, n: 1, seed: 3002)
        check(.q6_K, rows: 203, cols: 1024, n: 9, seed: 3003)
    }
}
