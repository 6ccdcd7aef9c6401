import TensorCore
import TestSupport
import XCTest

/// The int8-activation matmul over block-quantized weights (Kernels.matmulInt8Activations, which
/// Kernels.matmul takes for GGML blocks where it is faster, as llama.cpp computes it) on every ISA, against
/// two references:
/// - exactness: Reference.matmul (Double accumulation) of the weights with the *dequantized int8
///   activations* of Reference.quantizeActivations. The integer block dot products are exact, so only the
///   f32 scale products and the accumulation order differ: 1e-5 of sum |w xq|, as the f32 matmul tests.
/// - its f32 twin, Kernels.matmulF32Activations on the raw activations: rounding x to q d moves each
///   product by at most |w| d / 2, so the results may differ by sum_c |w_c| d_block(c) / 2 (plus the f32
///   summation bound); anything beyond that is a bug, not rounding.
final class Int8MatmulTests: XCTestCase {
    func testActivationQuantizationMatchesReferenceBits() {
        var rng = SeededRandom(seed: 77)
        let n = 3, cols = 96
        var x = rng.normals(n * cols, scale: 3)
        x[5] = 0
        for i in 32..<64 { x[i] = 0 }  // an all-zero block: d = 0, q = 0
        x[70] = 127.5 / 127 * 2  // a value that lands on a .5 after scaling by 127 / max
        x[71] = 2
        let expected = Reference.quantizeActivations(x, cols: cols)
        XCTAssertEqual(expected.d[1], 0)
        XCTAssertTrue(expected.q.contains(127) || expected.q.contains(-127))
        forEachISA { isa in
            let got = x.withUnsafeBufferPointer { Kernels.quantizeActivations($0.baseAddress!, n: n, cols: cols) }
            XCTAssertEqual(got, expected, "\(isa)")
        }
    }

    private func check(_ dtype: DType, rows: Int, cols: Int, n: Int, ldy: Int? = nil, seed: UInt64,
                       pool: ThreadPool = .shared, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let w = QuantMatmulTests.randomBlocks(dtype, rows: rows, cols: cols, rng: &rng)
        let x = rng.normals(n * cols)
        let xq = Reference.quantizeActivations(x, cols: cols)
        let xqf = xq.dequantized
        let exact = Reference.matmul(w, xqf, n: n)
        let wf = Reference.dequantize(dtype, w.data, count: w.count)
        var sumBound = [Float](repeating: 0, count: n * rows), roundBound = sumBound
        for t in 0..<n {
            for r in 0..<rows {
                var s: Float = 0, e: Float = 0, sx: Float = 0
                for c in 0..<cols {
                    let wv = abs(wf[r * cols + c])
                    s += wv * abs(xqf[t * cols + c])
                    sx += wv * abs(x[t * cols + c])
                    e += wv * xq.d[(t * cols + c) / 32] / 2
                }
                sumBound[t * rows + r] = 1e-5 * s + 1e-30
                roundBound[t * rows + r] = e * 1.0001 + 1e-5 * (s + sx) + 1e-30
            }
        }
        let stride = ldy ?? rows
        forEachISA { isa in
            func run(_ f32: Bool) -> [Float] {
                let sentinel: Float = -12345
                var y = [Float](repeating: sentinel, count: n * stride)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        if f32 {
                            Kernels.matmulF32Activations(w, xp.baseAddress!, yp.baseAddress!, n: n, ldy: ldy, pool: pool)
                        } else {
                            Kernels.matmulInt8Activations(w, xp.baseAddress!, yp.baseAddress!, n: n, ldy: ldy, pool: pool)
                        }
                    }
                }
                var got = [Float]()
                for t in 0..<n {
                    got += y[(t * stride)..<(t * stride + rows)]
                    for r in rows..<stride where y[t * stride + r] != sentinel {
                        XCTFail("\(isa) \(dtype) wrote Y[\(t), \(r)] beyond rows \(rows)", file: file, line: line)
                    }
                }
                return got
            }
            let got = run(false), twin = run(true)
            let what = "\(isa) \(dtype) rows \(rows) cols \(cols) n \(n)"
            for i in 0..<got.count where !(abs(got[i] - exact[i]) <= sumBound[i]) {
                XCTFail("\(what): element \(i) = \(got[i]), int8-exact \(exact[i])", file: file, line: line)
                break
            }
            for i in 0..<got.count where !(abs(got[i] - twin[i]) <= roundBound[i]) {
                XCTFail("\(what): element \(i) = \(got[i]), f32 twin \(twin[i]), bound \(roundBound[i])",
                        file: file, line: line)
                break
            }
        }
    }

    func testEveryQuantizedTypeOddShapesAndBatches() {
        var seed: UInt64 = 5000
        for dtype in DType.quantizedTypes {
            for blocks in [1, 3] {
                // n = 1 (decode), 2 ... 8 (compare lanes; 5 ... 8 are a full group of 4 plus a remainder).
                for n in [1, 2, 3, 4, 5, 8] {
                    check(dtype, rows: 13, cols: blocks * dtype.blockSize, n: n, seed: seed)
                    seed += 1
                }
            }
        }
    }

    /// One token of long Q4_0 rows (>= SQ_C4_MIN_COLS = 2048 columns): the AVX-512 chunk kernel
    /// (quant_int8_chunks.h), whose last chunk overlaps the one before unless the row is a whole number of
    /// 64-byte chunks (2048 columns: 1152 bytes); the other rows end 18, 36, 54, 8 and 48 bytes into a
    /// chunk, an odd block count included, so lanes straddle the 18-byte blocks in every way they can.
    func testQ4_0DecodeChunkShapes() {
        var seed: UInt64 = 8000
        for cols in [2048, 2080, 2112, 2144, 2176, 4864] {
            check(.q4_0, rows: 7, cols: cols, n: 1, seed: seed)
            seed += 1
        }
    }

    /// Long rows, rows split across the shared pool and a 3-thread pool (uneven chunks), an ldy wider
    /// than the rows, and a prefill-sized batch that runs over several row panels.
    func testThreadsPanelsAndLongRows() {
        let three = ThreadPool(threadCount: 3)
        check(.q8_0, rows: 203, cols: 1024, n: 1, seed: 6000, pool: three)
        check(.q4_0, rows: 203, cols: 1024, n: 2, ldy: 210, seed: 6001, pool: three)
        check(.q4_0, rows: 9, cols: 32 * 37, n: 1, seed: 6002)
        check(.q8_0, rows: 70, cols: 4096, n: 4, ldy: 75, seed: 6003)
        check(.q4_K, rows: 70, cols: 2048, n: 3, seed: 6004, pool: three)
        check(.q6_K, rows: 130, cols: 1024, n: 9, seed: 6005)
        check(.q8_0, rows: 300, cols: 1024, n: 11, seed: 6006)
        // Prefill-sized on AVX-512: five groups of 4 tokens (a pass of 4 and a remainder) over 3 row panels.
        check(.q8_0, rows: 130, cols: 4096, n: 19, seed: 6007)
        check(.q4_0, rows: 37, cols: 2048, n: 18, ldy: 40, seed: 6008, pool: three)
    }

    /// Kernels.matmul's choice: int8 activations for decode and compare batches on every ISA, for prefill
    /// only where the AVX-512 grouped kernel exists (Q8_0, Q4_0); f32 activations otherwise.
    func testMatmulPicksTheFasterPath() {
        var rng = SeededRandom(seed: 7000)
        for dtype in [DType.q8_0, .q4_K] {
            let w = QuantMatmulTests.randomBlocks(dtype, rows: 8, cols: 256, rng: &rng)
            for n in [1, 8, 9, 40] {
                let x = rng.normals(n * 256)
                forEachISA { isa in
                    func run(_ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
                        var y = [Float](repeating: 0, count: n * 8)
                        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { body(xp.baseAddress!, $0.baseAddress!) } }
                        return y
                    }
                    let got = run { Kernels.matmul(w, $0, $1, n: n) }
                    let int8 = run { Kernels.matmulInt8Activations(w, $0, $1, n: n) }
                    let f32 = run { Kernels.matmulF32Activations(w, $0, $1, n: n) }
                    let wantInt8 = n <= 8 || (isa == .avx512 && dtype == .q8_0)
                    XCTAssertEqual(got, wantInt8 ? int8 : f32, "\(isa) \(dtype) n \(n)")
                    XCTAssertNotEqual(int8, f32, "\(isa) \(dtype) n \(n): the paths should differ by the rounding")
                }
            }
        }
    }
}
