import TensorCore
import XCTest

/// Deterministic random numbers for kernel tests (SplitMix64; Box-Muller normals).
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }

    mutating func normal() -> Float {
        let u1 = uniform(), u2 = uniform()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    mutating func normals(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in normal() * scale }
    }
}

/// Runs `body` once per instruction-set level this CPU has (scalar, AVX2, AVX-512), forcing the kernels'
/// dispatch to it, so the lower paths are tested on an AVX-512 machine too. Restores the default after.
func forEachISA(_ body: (KernelISA) throws -> Void) rethrows {
    defer { Kernels.setISA(nil) }
    for isa in KernelISA.allCases where isa <= Kernels.detectedISA {
        XCTAssertEqual(Kernels.setISA(isa), isa)
        try body(isa)
    }
}

/// Largest |a - b| / (|b| + floor) over the elements.
func maxRelativeError(_ a: [Float], _ b: [Float], floor: Float = 0) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in 0..<a.count {
        let e = abs(a[i] - b[i]) / (abs(b[i]) + floor)
        if !(e <= worst) { worst = e }
    }
    return worst
}
