import TensorCore

/// A GGML tensor type code as stored in a GGUF tensor info, with its block geometry (gguf-py
/// `GGML_QUANT_SIZES`). Every known type is listed so that any file's tensor sizes can be checked, even
/// for types Squint cannot compute with (`dtype` nil).
public struct GGMLType: Sendable, Equatable, CustomStringConvertible {
    public let code: UInt32
    public let name: String
    /// Elements per block and bytes per block.
    public let blockSize: Int
    public let blockBytes: Int

    /// The TensorCore dtype for the types Squint dequantizes and multiplies.
    public var dtype: DType? {
        guard let d = DType(rawValue: name), d.blockSize == blockSize, d.blockBytes == blockBytes else { return nil }
        return d
    }

    public var description: String { name }

    /// Known types by code; nil for a code this reader does not know (the file is then rejected).
    public static func known(_ code: UInt32) -> GGMLType? {
        guard let (name, bs, bb) = table[code] else { return nil }
        return GGMLType(code: code, name: name, blockSize: bs, blockBytes: bb)
    }

    private static let table: [UInt32: (String, Int, Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
        26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
        34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36),
        41: ("Q1_0", 128, 18),
    ]
}

/// Where one tensor lives in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// GGUF order, innermost first: dims[0] (ggml's ne[0]) is the row length.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset of the data from the start of the data section (a multiple of the alignment).
    public let offset: Int
    public let byteCount: Int

    /// Row-major shape, outermost first (dims reversed): [rows, cols] for a matrix.
    public var shape: [Int] { dims.reversed() }
    public var count: Int { dims.reduce(1, *) }
}
