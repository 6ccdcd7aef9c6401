/// The Swift twin of CKernels/quant.c: dequantization of GGML blocks written straight from gguf-py's
/// numpy (`gguf/quants.py`), one element at a time. Swift never fuses a multiply and an add, so every
/// value goes through the same f32 roundings as numpy's and the result is bit-identical to it.
extension Reference {
    /// `count` elements (whole blocks) of `dtype` at `data`, as f32.
    public static func dequantize(_ dtype: DType, _ data: UnsafeRawPointer, count: Int) -> [Float] {
        let b = data.assumingMemoryBound(to: UInt8.self)
        var out = [Float](repeating: 0, count: count)
        func f16(_ o: Int) -> Float { Half.f16ToFloat(UInt16(b[o]) | UInt16(b[o + 1]) << 8) }
        func u32(_ o: Int) -> UInt32 {
            UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
        }
        let blocks = count / dtype.blockSize
        for blk in 0..<blocks {
            let o = blk * dtype.blockBytes, y = blk * dtype.blockSize
            switch dtype {
            case .f32: out[y] = Float(bitPattern: u32(o))
            case .f16: out[y] = f16(o)
            case .bf16: out[y] = Half.bf16ToFloat(UInt16(b[o]) | UInt16(b[o + 1]) << 8)
            case .q8_0:
                let d = f16(o)
                for j in 0..<32 { out[y + j] = Float(Int8(bitPattern: b[o + 2 + j])) * d }
            case .q4_0, .q4_1, .q5_0, .q5_1:
                out.replaceSubrange(y..<y + 32, with: legacy(dtype, b + o))
            case .q4_K, .q5_K:
                let d = f16(o), dmin = f16(o + 2)
                let scales = b + o + 4
                let qh = b + o + 16, qs = b + o + (dtype == .q5_K ? 48 : 16)
                for s in 0..<8 {
                    let (sc, mn) = kScaleMin(scales, s)
                    let d1 = d * Float(sc), m1 = dmin * Float(mn)
                    for l in 0..<32 {
                        var q = Int((qs[32 * (s / 2) + l] >> (4 * UInt8(s % 2))) & 0x0F)
                        if dtype == .q5_K { q |= Int((qh[l] >> UInt8(s)) & 1) << 4 }
                        let p = d1 * Float(q)
                        out[y + 32 * s + l] = p - m1
                    }
                }
            case .q6_K:
                let d = f16(o + 208)
                for e in 0..<256 {
                    let g = e / 128, r = e % 128
                    let lo = Int((b[o + 64 * g + r % 64] >> UInt8(4 * (r / 64))) & 0x0F)
                    let hi = Int((b[o + 128 + 32 * g + r % 32] >> UInt8(2 * (r / 32))) & 0x03)
                    let sc = Float(Int8(bitPattern: b[o + 192 + e / 16]))
                    out[y + e] = (d * sc) * Float((lo | hi << 4) - 32)
                }
            }
        }
        return out
    }

    /// One 32-element Q4_0 / Q4_1 / Q5_0 / Q5_1 block.
    private static func legacy(_ dtype: DType, _ b: UnsafePointer<UInt8>) -> [Float] {
        func f16(_ o: Int) -> Float { Half.f16ToFloat(UInt16(b[o]) | UInt16(b[o + 1]) << 8) }
        let hasMin = dtype == .q4_1 || dtype == .q5_1
        let five = dtype == .q5_0 || dtype == .q5_1
        let d = f16(0), m: Float = hasMin ? f16(2) : 0
        var o = hasMin ? 4 : 2
        var qh: UInt32 = 0
        if five {
            qh = UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
            o += 4
        }
        var out = [Float](repeating: 0, count: 32)
        for j in 0..<32 {
            let byte = b[o + j % 16]
            var q = Int(j < 16 ? byte & 0x0F : byte >> 4)
            if five { q |= Int((qh >> UInt32(j)) & 1) << 4 }
            if hasMin {
                let p = d * Float(q)
                out[j] = p + m
            } else {
                out[j] = d * Float(q - (five ? 16 : 8))
            }
        }
        return out
    }

    /// Scale and min of sub-block j of a Q4_K/Q5_K super-block (gguf-py `Q4_K.get_scale_min`).
    private static func kScaleMin(_ s: UnsafePointer<UInt8>, _ j: Int) -> (Int, Int) {
        if j < 4 { return (Int(s[j] & 0x3F), Int(s[j + 4] & 0x3F)) }
        return (Int((s[j + 4] & 0x0F) | ((s[j - 4] >> 2) & 0x30)), Int((s[j + 4] >> 4) | ((s[j] >> 2) & 0x30)))
    }
}

/// int8 activations (the reference twin of CKernels' sq_quantize_act, llama.cpp's Q8_0 activation
/// rounding with an f32 scale): per block of 32, d = max|x| / 127 and q = x * (127 / max|x|) rounded to
/// nearest even. Same f32 operations, so the bits agree with the kernels on every ISA.
public struct QuantizedActivations: Sendable, Equatable {
    /// [n, cols] quants, [n, cols / 32] block scales, and block sums s = d * sum(q).
    public var q: [Int8]
    public var d: [Float]
    public var s: [Float]

    public init(q: [Int8], d: [Float], s: [Float]) {
        self.q = q
        self.d = d
        self.s = s
    }

    /// The values the int8 matmul multiplies: q * d (exact in f32: q has 8 bits).
    public var dequantized: [Float] {
        q.indices.map { i in Float(q[i]) * d[i / 32] }
    }
}

extension Reference {
    /// x [rows of cols, cols a multiple of 32] quantized to int8 blocks of 32.
    public static func quantizeActivations(_ x: [Float], cols: Int) -> QuantizedActivations {
        precondition(cols % 32 == 0 && x.count % cols == 0)
        let blocks = x.count / 32
        var q = [Int8](repeating: 0, count: x.count), d = [Float](repeating: 0, count: blocks)
        var s = [Float](repeating: 0, count: blocks)
        for b in 0..<blocks {
            var amax: Float = 0
            for i in 0..<32 { amax = max(amax, abs(x[32 * b + i])) }
            let scale = amax / 127, id: Float = amax > 0 ? 127 / amax : 0
            var sum = 0
            for i in 0..<32 {
                let r = (x[32 * b + i] * id).rounded(.toNearestOrEven)
                let v = Int8(max(-128, min(127, r)))
                q[32 * b + i] = v
                sum += Int(v)
            }
            d[b] = scale
            s[b] = scale * Float(sum)
        }
        return QuantizedActivations(q: q, d: d, s: s)
    }
}
