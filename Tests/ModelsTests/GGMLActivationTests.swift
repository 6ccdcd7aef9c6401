@testable import Models
import TensorCore
import XCTest

/// The vectorized ggml FP16-table activations (Kernels.f16Table) against their scalar Swift twin, bit for
/// bit, on every dispatch level: the table index is the f16 rounding of x, so one rounding difference
/// (ties, subnormals, overflow to inf) would show as a different table entry.
final class GGMLActivationTests: XCTestCase {
    private func inputs() -> [Float] {
        // A sweep over [-30, 30) with a step off the f16 grid, then the edges.
        var x = (0..<1171).map { Float($0) * 0.0512345 - 30 }
        x += [-10, -10.000001, -9.999999, 10, 9.999999, 10.000001, 0, -0.0, 1e-7, -3e-8, 6e-8, 65504, 65519.99,
              65520, -65520, 1e30, -1e30, .infinity, -.infinity, .nan, Float(bitPattern: 0x3F80_1000),
              Float(bitPattern: 0x3F80_3000), Float(bitPattern: 0xBF80_1000)]  // exact f16 ties (both parities)
        return x
    }

    func testVectorizedMatchesScalarBitForBit() {
        defer { Kernels.setISA(nil) }
        let x = inputs()
        for act in [GGMLActivation.gelu, .geluQuick] {
            var want = x
            want.withUnsafeMutableBufferPointer { act.applyScalar($0.baseAddress!, count: $0.count) }
            for isa in KernelISA.allCases where isa <= Kernels.detectedISA {
                Kernels.setISA(isa)
                for offset in [0, 3] {  // vector bodies and scalar tails at different elements
                    var got = Array(x[offset...])
                    got.withUnsafeMutableBufferPointer { act.apply($0.baseAddress!, count: $0.count) }
                    for (i, g) in got.enumerated() {
                        let w = want[i + offset]
                        if g.isNaN && w.isNaN { continue }
                        if g.bitPattern != w.bitPattern {
                            XCTFail("\(act) \(isa): x = \(x[i + offset]) gives \(g), scalar \(w)")
                            break
                        }
                    }
                }
            }
        }
    }
}
