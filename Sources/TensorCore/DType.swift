/// Element types of stored weights and activations: plain floats and GGML's block-quantized formats.
///
/// A quantized tensor is a row-major sequence of fixed-size blocks, each holding `blockSize` consecutive
/// elements of one row (rows are a whole number of blocks; GGUF guarantees it). Block layouts follow
/// ggml's ggml-common.h; dequantization follows gguf-py's `gguf.quants` exactly (see CKernels/quant.c).
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    /// 32 elements: f16 scale d, 32 x int8 q; x = d * q.
    case q8_0 = "Q8_0"
    /// 32 elements: f16 d, 16 bytes of nibbles; x = d * (q - 8).
    case q4_0 = "Q4_0"
    /// 32 elements: f16 d, f16 m, 16 bytes of nibbles; x = d * q + m.
    case q4_1 = "Q4_1"
    /// 32 elements: f16 d, 4 bytes of high bits, 16 bytes of nibbles; x = d * (q - 16).
    case q5_0 = "Q5_0"
    /// 32 elements: f16 d, f16 m, 4 bytes of high bits, 16 bytes of nibbles; x = d * q + m.
    case q5_1 = "Q5_1"
    /// 256 elements in 8 sub-blocks of 32 with 6-bit scales and mins: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes.
    case q4_K = "Q4_K"
    /// Q4_K plus 32 bytes of fifth bits.
    case q5_K = "Q5_K"
    /// 256 elements in 16 sub-blocks of 16: 128 bytes low nibbles, 64 bytes high 2 bits, 16 int8 scales, f16 d.
    case q6_K = "Q6_K"

    /// Elements per block (1 for the plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block (the element size for the plain float types).
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 34
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// The plain float types (what safetensors stores, what norms and `OwnedBuffer.tensor` take).
    public static let floatTypes: [DType] = [.f32, .f16, .bf16]
    /// The block-quantized types (GGUF).
    public static let quantizedTypes: [DType] = allCases.filter(\.isQuantized)

    /// Bytes per element of the plain float types. For quantized types this is the bytes per *block*
    /// (there is no whole number of bytes per element): size storage with `byteCount(elements:)`.
    public var size: Int { blockBytes }

    /// Bytes taken by `elements` consecutive elements (a whole number of blocks; a partial block is
    /// rounded up, which readers reject before it matters).
    public func byteCount(elements: Int) -> Int {
        (elements + blockSize - 1) / blockSize * blockBytes
    }

    /// The C kernels' code for this dtype (see CKernels.h `sq_dtype`).
    public var kernelCode: Int32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .bf16: 2
        case .q8_0: 3
        case .q4_0: 4
        case .q4_1: 5
        case .q5_0: 6
        case .q5_1: 7
        case .q4_K: 8
        case .q5_K: 9
        case .q6_K: 10
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
