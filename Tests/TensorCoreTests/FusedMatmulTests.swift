import TensorCore
import TestSupport
import XCTest

/// The fused matmul (`Kernels.matmul(a, b, c, x:n:)`, a layer's q/k/v or gate/up in one pool job) against
/// separate `Kernels.matmul` calls: every path (16-row packed Q8_0/Q4_0, int8 activations, f32
/// activations for F16 and for the prefill GEMM), mixed paths in one call, and row counts that split
/// mid-matrix must give bit-identical outputs, on every ISA.
final class FusedMatmulTests: XCTestCase {
    private func check(_ ws: [TensorView], n: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        precondition(ws.count == 2 || ws.count == 3)
        var rng = SeededRandom(seed: seed)
        let cols = ws[0].cols
        let x = rng.normals(n * cols)
        forEachISA { isa in
            let separate = ws.map { UnsafeMutablePointer<Float>.allocate(capacity: n * $0.rows) }
            let fused = ws.map { UnsafeMutablePointer<Float>.allocate(capacity: n * $0.rows) }
            defer { (separate + fused).forEach { $0.deallocate() } }
            for i in ws.indices {
                separate[i].initialize(repeating: .nan, count: n * ws[i].rows)
                fused[i].initialize(repeating: -1, count: n * ws[i].rows)
            }
            x.withUnsafeBufferPointer { xp in
                for i in ws.indices { Kernels.matmul(ws[i], xp.baseAddress!, separate[i], n: n) }
                Kernels.matmul((ws[0], fused[0]), (ws[1], fused[1]), ws.count == 3 ? (ws[2], fused[2]) : nil,
                               x: xp.baseAddress!, n: n)
            }
            for i in ws.indices {
                let count = n * ws[i].rows
                XCTAssertEqual(Array(UnsafeBufferPointer(start: fused[i], count: count)),
                               Array(UnsafeBufferPointer(start: separate[i], count: count)),
                               "\(isa) matrix \(i) (\(ws[i].dtype) \(ws[i].rows)x\(cols)) n \(n)", file: file, line: line)
            }
        }
    }

    func testEveryPathAndMixedPaths() {
        var rng = SeededRandom(seed: 42)
        let cols = 256
        let q8 = QuantMatmulTests.randomBlocks(.q8_0, rows: 48, cols: cols, rng: &rng)
        let q4 = QuantMatmulTests.randomBlocks(.q4_0, rows: 32, cols: cols, rng: &rng)
        let q4k = QuantMatmulTests.randomBlocks(.q4_K, rows: 20, cols: cols, rng: &rng)
        let f16 = OwnedBuffer.tensor(name: "f16", shape: [37, cols], values: rng.normals(37 * cols), dtype: .f16)
        let f32 = OwnedBuffer.tensor(name: "f32", shape: [70, cols], values: rng.normals(70 * cols))
        for n in [1, 4, 9, 20] {
            // Packed copies (the AVX-512 decode layout; the portable twin elsewhere) with an unpacked one.
            check([Kernels.packedCopy(q8), Kernels.packedCopy(q4), q4k], n: n, seed: 1 + UInt64(n))
            check([q8, q4], n: n, seed: 2 + UInt64(n))                      // int8 activations, row tails
            check([f16, f32, f16], n: n, seed: 3 + UInt64(n))               // f32 activations, GEMM from 16
            check([Kernels.packedCopy(q4), f16], n: n, seed: 4 + UInt64(n))   // one job, two kinds
        }
    }
}
