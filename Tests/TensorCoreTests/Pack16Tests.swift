import TensorCore
import TestSupport
import XCTest

/// Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K weights repacked 16 rows at a time (pack16.c, `Kernels.packedCopy`), multiplied through
/// `Kernels.matmul` on every ISA (the AVX-512 VNNI kernel where the CPU has it, the portable twin
/// elsewhere), against Reference.matmul of the weights with the dequantized int8 activations: the
/// integer block dot products are exact, so only f32 scale products and summation order may differ
/// (1e-5 of sum |w xq|, the bound of the unpacked int8 path's tests), and against the unpacked int8
/// path itself.
final class Pack16Tests: XCTestCase {
    private func check(_ dtype: DType, rows: Int, cols: Int, n: Int, ldy: Int? = nil, seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: seed)
        let w = QuantMatmulTests.randomBlocks(dtype, rows: rows, cols: cols, rng: &rng)
        let packed = Kernels.packedCopy(w)
        XCTAssertNotNil(packed.packed16, file: file, line: line)
        XCTAssertEqual(packed.packed16?.byteCount, w.byteCount, "the packed copy has the original's size", file: file, line: line)
        let x = rng.normals(n * cols, scale: 2)
        let xq = Reference.quantizeActivations(x, cols: cols)
        let xqf = xq.dequantized
        let exact = Reference.matmul(w, xqf, n: n)
        let wf = Reference.dequantize(dtype, w.data, count: w.count)
        var bound = [Float](repeating: 0, count: n * rows)
        for t in 0..<n {
            for r in 0..<rows {
                var s: Float = 0
                for c in 0..<cols { s += abs(wf[r * cols + c] * xqf[t * cols + c]) }
                bound[t * rows + r] = 1e-5 * s + 1e-30
            }
        }
        let stride = ldy ?? rows
        forEachISA { isa in
            func run(_ view: TensorView, unpackedInt8: Bool = false) -> [Float] {
                let sentinel: Float = -12345
                var y = [Float](repeating: sentinel, count: n * stride)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        if unpackedInt8 {  // Kernels.matmul would take the f32 path for prefill off AVX-512
                            Kernels.matmulInt8Activations(view, xp.baseAddress!, yp.baseAddress!, n: n, ldy: ldy)
                        } else {
                            Kernels.matmul(view, xp.baseAddress!, yp.baseAddress!, n: n, ldy: ldy)
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
            let got = run(packed)
            let what = "\(isa) packed \(dtype) rows \(rows) cols \(cols) n \(n)"
            for i in 0..<got.count where !(abs(got[i] - exact[i]) <= bound[i]) {
                XCTFail("\(what): element \(i) (token \(i / rows), row \(i % rows)) = \(got[i]), expected \(exact[i])",
                        file: file, line: line)
                break
            }
            // The unpacked int8 path computes the same integer dot products.
            let unpacked = run(w, unpackedInt8: true)
            for i in 0..<got.count where !(abs(got[i] - unpacked[i]) <= 2 * bound[i]) {
                XCTFail("\(what): element \(i) = \(got[i]), unpacked int8 path \(unpacked[i])", file: file, line: line)
                break
            }
        }
    }

    func testShapesAndTokenCounts() {
        var seed: UInt64 = 5000
        for dtype in [DType.q8_0, .q4_0, .q5_0] {
            for (rows, cols) in [(16, 32), (32, 96), (48, 320), (176, 64), (1280, 64)] {
                for n in [1, 2, 3, 4, 5, 9] {
                    check(dtype, rows: rows, cols: cols, n: n, seed: seed)
                    seed += 1
                }
            }
        }
    }

    /// K-quants: 256-column super-blocks, every scale and minimum (Q4_K/Q5_K: the 6-bit pairs split into low and
    /// top bits; Q6_K: the 16 int8 scales), both nibbles, Q5_K's fifth bits and all four of Q6_K's 2-bit fields in play
    /// (random bytes), one to nine tokens (the 4-token steps and their tails).
    func testKQuantShapesAndTokenCounts() {
        var seed: UInt64 = 5500
        for dtype in [DType.q6_K, .q4_K, .q5_K] {
            for (rows, cols) in [(16, 256), (32, 512), (48, 768), (160, 256)] {
                for n in [1, 2, 3, 4, 5, 9] {
                    check(dtype, rows: rows, cols: cols, n: n, seed: seed)
                    seed += 1
                }
            }
        }
    }

    /// K-quant rows split across the pool, an output stride, and two token blocks (256 KB / 4096 columns).
    func testKQuantThreadsStridesAndTokenBlocks() {
        for dtype in [DType.q6_K, .q4_K, .q5_K] {
            check(dtype, rows: 208, cols: 1024, n: 1, ldy: 213, seed: 6100)
            check(dtype, rows: 32, cols: 4096, n: 70, seed: 6101)
        }
    }

    /// Rows split across the pool in 16-row groups, an output stride wider than the rows, and a prompt
    /// long enough to span two of the kernel's L2-sized token blocks (256 KB of 4096-column activations
    /// is 64 tokens).
    func testThreadsStridesAndTokenBlocks() {
        check(.q8_0, rows: 208, cols: 1024, n: 1, ldy: 213, seed: 6000)
        check(.q4_0, rows: 208, cols: 1024, n: 4, seed: 6001)
        check(.q4_0, rows: 32, cols: 4096, n: 70, seed: 6002)
        check(.q8_0, rows: 16, cols: 4096, n: 67, ldy: 20, seed: 6003)
        check(.q5_0, rows: 208, cols: 1024, n: 2, ldy: 213, seed: 6004)
        check(.q5_0, rows: 32, cols: 4096, n: 70, seed: 6005)
    }

    /// Rows read back from the packed copy (a tied embedding's lookups) equal the original rows bit for bit.
    func testRowsReadFromThePackedCopy() {
        var rng = SeededRandom(seed: 8)
        for dtype in [DType.q8_0, .q4_0, .q5_0, .q6_K, .q4_K, .q5_K] {
            let cols = dtype.blockSize == 256 ? 512 : 96
            let w = QuantMatmulTests.randomBlocks(dtype, rows: 48, cols: cols, rng: &rng)
            let packed = Kernels.packedCopy(w)
            var a = [Float](repeating: 0, count: cols), b = a
            for r in 0..<48 {
                w.row(r, into: &a)
                Kernels.convertRow(packed, row: r, into: &b)
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(dtype) row \(r)")
            }
        }
    }

    /// Quantizing at load straight into place (`Quantizer.quantize(_:to:into:packed:)`, what `--quant` does)
    /// writes what `Quantizer.quantize` writes, rows laid out as they are or packed as `Kernels.packedCopy`
    /// packs them, over several 8 MB source slices (10944 bf16 rows of 768: slices of 5456 rows, the third partial),
    /// and hands every source byte to `release` once, in order.
    func testQuantizedStraightIntoPlaceOverSeveralSlices() {
        var rng = SeededRandom(seed: 41)
        let rows = 10944, cols = 768
        let source = OwnedBuffer.tensor(name: "w", shape: [rows, cols], values: rng.normals(rows * cols, scale: 0.05), dtype: .bf16)
        for dtype in [DType.q8_0, .q4_0, .q4_K] {
            let first = Quantizer.quantize(source, to: dtype)
            let packable = Kernels.packedBytes(dtype, rows: rows, cols: cols) > 0
            for packed in packable ? [false, true] : [false] {
                let bytes = packed ? Kernels.packedBytes(dtype, rows: rows, cols: cols) : first.byteCount
                let out = OwnedBuffer(byteCount: bytes, zeroed: false)
                var released: [(Int, Int)] = []
                Quantizer.quantize(source, to: dtype, into: out.raw, packed: packed) { p, n in
                    released.append((p - source.data, n))
                }
                XCTAssertGreaterThanOrEqual(released.count, 3, "\(dtype): several slices")
                XCTAssertEqual(released.first?.0, 0)
                for (a, b) in zip(released, released.dropFirst()) { XCTAssertEqual(a.0 + a.1, b.0, "\(dtype): slices in order") }
                XCTAssertEqual(released.last.map { $0.0 + $0.1 }, source.byteCount, "\(dtype): every source byte released")
                if packed {
                    let reference = Kernels.packedCopy(first).packed16!
                    XCTAssertEqual(memcmp(out.raw, reference.raw, bytes), 0, "\(dtype): packed as packedCopy packs")
                    let view = TensorView(name: "w", dtype: dtype, shape: [rows, cols], data: UnsafeRawPointer(out.raw), owner: out).withPacked16(out)
                    XCTAssertTrue(view.isPackedOnly)
                    var row = [Float](repeating: 0, count: cols), expected = row
                    for r in [0, 17, 5455, 5456, 10943] {
                        view.row(r, into: &row)
                        first.row(r, into: &expected)
                        XCTAssertEqual(row, expected, "\(dtype) row \(r) read back from the packed-only view")
                    }
                } else {
                    XCTAssertEqual(memcmp(out.raw, first.data, bytes), 0, "\(dtype): the bytes Quantizer.quantize writes")
                }
            }
        }
    }

    func testWhatCanBePacked() {
        var rng = SeededRandom(seed: 7)
        XCTAssertEqual(Kernels.packed(QuantMatmulTests.randomBlocks(.q4_0, rows: 24, cols: 64, rng: &rng)).packed16 == nil, true,
                       "rows not a multiple of 16 stay unpacked")
        XCTAssertNil(Kernels.packed(QuantMatmulTests.randomBlocks(.q4_1, rows: 32, cols: 256, rng: &rng)).packed16,
                     "Q4_1 has no packed layout")
        XCTAssertNil(Kernels.packed(QuantMatmulTests.randomBlocks(.q4_K, rows: 32, cols: 128 * 3, rng: &rng)).packed16,
                     "K-quant rows of whole super-blocks only")
        let p = Kernels.packed(QuantMatmulTests.randomBlocks(.q8_0, rows: 32, cols: 64, rng: &rng))
        XCTAssertEqual(p.packed16 != nil, Kernels.activeISA == .avx512, "packed exactly where the AVX-512 kernel runs")
        defer { Kernels.setISA(nil) }
        Kernels.setISA(.avx2)
        XCTAssertNil(Kernels.packed(QuantMatmulTests.randomBlocks(.q8_0, rows: 32, cols: 64, rng: &rng)).packed16,
                     "a lower kernel level keeps the row-major layout")
    }
}
