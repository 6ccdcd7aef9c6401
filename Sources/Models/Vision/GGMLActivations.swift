import Foundation
import TensorCore

/// The activations of llama.cpp's CPU backend (ggml-cpu vec.h), for vision towers loaded from an mmproj
/// GGUF, whose reference is llama.cpp rather than transformers.
///
/// ggml is built with GGML_GELU_FP16 and GGML_GELU_QUICK_FP16: an f32 input is rounded to f16, looked up in
/// a 65536-entry table of the f32 function evaluated at every f16 value, and the table holds the result
/// rounded to f16 again. Its GELU is the tanh approximation (transformers' merger uses the erf form).
/// Differences against the exact functions are up to ~1e-3 relative, enough to move near-tie greedy tokens.
/// (An f32 difference of one ulp upstream can still flip an input's f16 rounding: one table step.)
enum GGMLActivation: Sendable {
    /// `ggml_gelu`: 0.5x(1 + tanh(sqrt(2/pi) x (1 + 0.044715 x²))), through the f16 table; exactly 0 at
    /// x <= -10 and x at x >= 10 (ggml_vec_gelu_f32).
    case gelu
    /// `ggml_gelu_quick`: x / (1 + exp(-1.702 x)), through the f16 table (no clamps).
    case geluQuick

    private static let sqrt2OverPi: Float = 0.79788456080286535587989211986876
    private static let geluCoefA: Float = 0.044715
    private static let geluQuickCoef: Float = -1.702

    static func geluF32(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(sqrt2OverPi * x * (1 + geluCoefA * x * x)))
    }

    static func geluQuickF32(_ x: Float) -> Float {
        x * (1 / (1 + expf(geluQuickCoef * x)))
    }

    /// Tables indexed by an f16 bit pattern, holding f16 results widened back to f32.
    private static let geluTable: [Float] = table(geluF32)
    private static let geluQuickTable: [Float] = table(geluQuickF32)

    private static func table(_ f: (Float) -> Float) -> [Float] {
        (0..<65536).map { bits in Half.f16ToFloat(Half.floatToF16(f(Half.f16ToFloat(UInt16(bits))))) }
    }

    /// The lookups run vectorized (Kernels.f16Table: F16C rounding and a gather); `applyScalar` is their
    /// reference twin.
    func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .gelu:
            Self.geluTable.withUnsafeBufferPointer { Kernels.f16Table($0.baseAddress!, x, n: count, lo: -10, hi: 10) }
        case .geluQuick:
            // No clamps: a NaN lo zeroes nothing, and every finite or -inf x is below hi = +inf.
            Self.geluQuickTable.withUnsafeBufferPointer {
                Kernels.f16Table($0.baseAddress!, x, n: count, lo: .nan, hi: .infinity)
            }
        }
    }

    func applyScalar(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .gelu:
            let t = Self.geluTable
            for i in 0..<count {
                let v = x[i]
                if v <= -10 { x[i] = 0 } else if v < 10 { x[i] = t[Int(Half.floatToF16(v))] }
            }
        case .geluQuick:
            let t = Self.geluQuickTable
            for i in 0..<count { x[i] = t[Int(Half.floatToF16(x[i]))] }
        }
    }

    /// The ggml activation for a vision MLP whose transformers' activation is `act`; nil where ggml
    /// computes the function itself in f32 (SiLU), which Squint's kernel does as well.
    static func matching(_ act: Activation) -> GGMLActivation? {
        switch act {
        case .geluTanh: return .gelu
        case .quickGelu: return .geluQuick
        case .silu, .geluErf: return nil
        }
    }
}
