/// Element types of stored weights and activations.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        }
    }

    /// The C kernels' code for this dtype (see CKernels.h `sq_dtype`).
    public var kernelCode: Int32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .bf16: 2
        }
    }

    public var description: String { rawValue }
}

/// Scalar conversions (reference paths; the kernels convert in bulk).
public enum Half {
    /// bf16 is the top half of an f32: widening is a shift, exact.
    @inline(__always) public static func bf16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Round-to-nearest-even f32 -> bf16, as torch does (NaN kept quiet).
    @inline(__always) public static func floatToBF16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
        let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    @inline(__always) public static func f16ToFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    @inline(__always) public static func floatToF16(_ value: Float) -> UInt16 {
        Float16(value).bitPattern
    }
}
