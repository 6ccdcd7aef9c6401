import CKernels
import TensorCore
import XCTest

/// The Q4_K quantizer's fast search against its scalar twin (ModelsTests.Q4KQuantizerTests checks the
/// bytes against llama.cpp's own).
final class Q4KSearchTests: XCTestCase {
    /// The 8-lane search (`sq_quantize_row_q4_K`, AVX2 here where the CPU has it, and its baseline-ISA build)
    /// writes the bytes of its scalar twin
    /// (`sq_quantize_row_q4_K_ref`, the operations of llama.cpp's reference one sub-block at a time) over
    /// 2000 super-blocks whose sub-blocks mix every case the search branches on: constant sub-blocks
    /// (max == min, alone or beside others), all-positive and all-negative ones, zeros with one outlier,
    /// magnitudes from 1e-6 to 1e4, and ordinary normal values.
    func testEightLaneSearchWritesTheScalarBytes() {
        var rng = SeededRandom(seed: 7)
        let blocks = 2000
        var x = [Float](repeating: 0, count: blocks * 256)
        for b in 0..<blocks {
            for j in 0..<8 {
                let base = b * 256 + j * 32
                let scale = Float(pow(10.0, Double(rng.next() % 11) - 6))
                let kind = Int(rng.next() % 7)
                for i in 0..<32 {
                    let v = rng.normals(1, scale: scale)[0]
                    switch kind {
                    case 0: x[base + i] = scale               // constant
                    case 1: x[base + i] = abs(v)              // all positive
                    case 2: x[base + i] = -abs(v)             // all negative
                    case 3: x[base + i] = i == 5 ? v : 0      // zeros and one value
                    case 4: x[base + i] = 0                   // all zero
                    default: x[base + i] = v
                    }
                }
            }
        }
        let bytes = blocks * DType.q4_K.blockBytes
        var twin = [UInt8](repeating: 0, count: bytes)
        sq_quantize_row_q4_K_ref(x, &twin, Int64(x.count))
        for (label, run) in [("best ISA", sq_quantize_row_q4_K), ("baseline ISA", sq_quantize_row_q4_K_baseline)] {
            var fast = [UInt8](repeating: 0, count: bytes)
            run(x, &fast, Int64(x.count))
            let differing = (0..<blocks).filter { b in
                let r = (b * DType.q4_K.blockBytes)..<((b + 1) * DType.q4_K.blockBytes)
                return fast[r] != twin[r]
            }
            XCTAssertEqual(differing, [], "\(label): super-blocks where the 8-lane search differs from the scalar one")
        }
    }
}
