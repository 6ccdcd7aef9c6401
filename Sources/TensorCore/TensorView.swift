import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only view of a tensor's bytes inside storage that outlives it (an mmap'd file or an owned
/// buffer). Row-major, contiguous. The `owner` reference keeps the storage alive.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    public let owner: AnyObject?
    /// The same weights repacked 16 rows at a time for the AVX-512 decode kernel (`Kernels.packed`), or nil.
    /// When set, matmuls read only these bytes.
    public private(set) var packed16: OwnedBuffer?

    public init(name: String, dtype: DType, shape: [Int], data: UnsafeRawPointer, owner: AnyObject?) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.owner = owner
    }

    /// This view with a packed copy attached (see `Kernels.packed`).
    public func withPacked16(_ buffer: OwnedBuffer) -> TensorView {
        var v = self
        v.packed16 = buffer
        return v
    }

    /// Whether the packed copy is the only copy of these weights (a matrix quantized at load straight into
    /// its packed layout): `data` then points into it, and row reads go through the packed layout.
    public var isPackedOnly: Bool { packed16 != nil && owner === packed16 }

    public var count: Int { shape.reduce(1, *) }
    /// Bytes of storage (whole blocks for quantized dtypes).
    public var byteCount: Int { dtype.byteCount(elements: count) }

    /// Rows and columns when viewed as a matrix (leading dims folded into rows).
    public var rows: Int { shape.count <= 1 ? 1 : shape.dropLast().reduce(1, *) }
    public var cols: Int { shape.last ?? 1 }

    /// Element `i` widened to Float (slow; for tests and one-off reads).
    /// For quantized dtypes the element's whole block is dequantized.
    public func element(_ i: Int) -> Float {
        if isPackedOnly {
            return withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { out in
                row(i / cols, into: out.baseAddress.unsafelyUnwrapped)
                return out[i % cols]
            }
        }
        switch dtype {
        case .f32: return data.load(fromByteOffset: i * 4, as: Float.self)
        case .f16: return Half.f16ToFloat(data.load(fromByteOffset: i * 2, as: UInt16.self))
        case .bf16: return Half.bf16ToFloat(data.load(fromByteOffset: i * 2, as: UInt16.self))
        default:
            let block = i / dtype.blockSize
            return withUnsafeTemporaryAllocation(of: Float.self, capacity: dtype.blockSize) { out in
                let p = out.baseAddress.unsafelyUnwrapped
                sq_convert_row(dtype.kernelCode, data + block * dtype.blockBytes, p, Int64(dtype.blockSize))
                return p[i % dtype.blockSize]
            }
        }
    }

    /// All elements widened to Float (allocates; for tests, embeddings rows use `row(_:into:)`).
    public func toFloats() -> [Float] {
        if !dtype.isQuantized { return (0..<count).map(element) }
        let n = count
        return [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            if let p = buffer.baseAddress, n > 0 {
                if isPackedOnly {
                    for r in 0..<rows { row(r, into: p + r * cols) }
                } else {
                    sq_convert_row(dtype.kernelCode, data, p, Int64(n))
                }
            }
            initialized = n
        }
    }

    /// Writes row `r` (of `cols` elements) widened to Float into `out`.
    public func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let n = cols
        let base = r * n
        if let p = packed16, isPackedOnly {
            sq_pack16_row(dtype.kernelCode, p.raw, Int64(n), Int64(r), out)
            return
        }
        switch dtype {
        case .f32:
            out.update(from: data.advanced(by: base * 4).assumingMemoryBound(to: Float.self), count: n)
        case .f16:
            let p = data.advanced(by: base * 2).assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { out[i] = Half.f16ToFloat(p[i]) }
        case .bf16:
            let p = data.advanced(by: base * 2).assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { out[i] = Half.bf16ToFloat(p[i]) }
        default:
            sq_convert_row(dtype.kernelCode, data + r * dtype.byteCount(elements: n), out, Int64(n))
        }
    }
}

/// Owned, aligned storage for tensors made at run time (converted weights, test inputs).
public final class OwnedBuffer: @unchecked Sendable {
    public let raw: UnsafeMutableRawPointer
    public let byteCount: Int
    /// Bytes mapped for a huge-page buffer (unmapped on deinit), 0 for one from the allocator or a slice.
    private let mappedBytes: Int
    /// The buffer a slice lies in (kept alive by it), nil for a buffer of its own.
    private let parent: OwnedBuffer?

    /// zeroed: false leaves the bytes uninitialised, for storage the caller fills completely at once.
    /// hugePages: for weights streamed every token (packed matrices), the buffer is mapped on its own,
    /// 2 MB aligned, and asked to be backed by transparent huge pages (where the kernel grants them; this
    /// is a hint): one TLB entry per 2 MB instead of per 4 KB page. Decode reads every page of every
    /// matrix once per token, so with 4 KB pages each page costs a TLB miss and a page walk.
    public init(byteCount: Int, alignment: Int = 64, zeroed: Bool = true, hugePages: Bool = false) {
        self.byteCount = byteCount
        parent = nil
        if hugePages, byteCount >= Self.hugePage, let p = Self.mapHuge(byteCount) {
            raw = p
            mappedBytes = Self.rounded(byteCount, to: Self.smallPage)
            return  // anonymous pages read as zeros
        }
        mappedBytes = 0
        self.raw = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
        if zeroed { self.raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    }

    /// byteCount bytes of `parent` from `offset` (within it), freed with it.
    public init(slicing parent: OwnedBuffer, offset: Int, byteCount: Int) {
        precondition(offset >= 0 && byteCount >= 0 && offset + byteCount <= parent.byteCount, "slice outside its buffer")
        self.parent = parent
        raw = parent.raw + offset
        self.byteCount = byteCount
        mappedBytes = 0
    }

    deinit {
        if parent != nil { return }
        if mappedBytes > 0 { munmap(raw, mappedBytes) } else { raw.deallocate() }
    }

    private static let hugePage = 2 << 20, smallPage = 4096

    private static func rounded(_ n: Int, to unit: Int) -> Int { (n + unit - 1) / unit * unit }

    /// An anonymous mapping of byteCount (rounded to 4 KB), 2 MB aligned (a larger mapping trimmed at both
    /// ends); its whole 2 MB pages advised MADV_HUGEPAGE, the tail left to small pages (a huge page there
    /// would make up to 2 MB resident that holds nothing); nil if the mapping fails.
    private static func mapHuge(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        let len = rounded(byteCount, to: smallPage)
        guard let p = mmap(nil, len + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else { return nil }
        let base = Int(bitPattern: p), start = rounded(base, to: hugePage)
        if start > base { munmap(p, start - base) }
        let tail = base + len + hugePage - (start + len)
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + len), tail) }
        let aligned = UnsafeMutableRawPointer(bitPattern: start)!
        _ = madvise(aligned, byteCount / hugePage * hugePage, MADV_HUGEPAGE)
        return aligned
    }

    /// A view over a Float array copied into new storage, stored as `dtype`.
    /// A view over raw stored bytes of any dtype (quantized blocks included) copied into new storage.
    public static func tensor(name: String, shape: [Int], dtype: DType, bytes: [UInt8]) -> TensorView {
        precondition(dtype.byteCount(elements: shape.reduce(1, *)) == bytes.count, "byte count does not match shape")
        let buffer = OwnedBuffer(byteCount: bytes.count)
        buffer.raw.copyMemory(from: bytes, byteCount: bytes.count)
        return TensorView(name: name, dtype: dtype, shape: shape, data: UnsafeRawPointer(buffer.raw), owner: buffer)
    }

    /// Plain float dtypes only (quantized tensors come from GGUF files).
    public static func tensor(name: String, shape: [Int], values: [Float], dtype: DType = .f32) -> TensorView {
        precondition(!dtype.isQuantized, "OwnedBuffer.tensor cannot quantize to \(dtype)")
        precondition(shape.reduce(1, *) == values.count, "shape does not match value count")
        let buffer = OwnedBuffer(byteCount: values.count * dtype.size)
        switch dtype {
        case .f32:
            buffer.raw.bindMemory(to: Float.self, capacity: values.count).update(from: values, count: values.count)
        case .f16:
            let p = buffer.raw.bindMemory(to: UInt16.self, capacity: values.count)
            for i in 0..<values.count { p[i] = Half.floatToF16(values[i]) }
        case .bf16:
            let p = buffer.raw.bindMemory(to: UInt16.self, capacity: values.count)
            for i in 0..<values.count { p[i] = Half.floatToBF16(values[i]) }
        default:
            break
        }
        return TensorView(name: name, dtype: dtype, shape: shape, data: UnsafeRawPointer(buffer.raw), owner: buffer)
    }
}

/// One huge-page buffer (`OwnedBuffer(hugePages:)`) that a model's packed matrices are cut from, in the
/// order a decode step reads them. Why: a matrix of its own under 2 MB (Qwen2-0.5B's q/k/v/o, the tail
/// of every larger one) would live in 4 KB pages, each a TLB miss per token and a break in the stream
/// the hardware prefetcher follows; in one arena every matrix shares the 2 MB pages and the next
/// matrix starts where the last one ended.
public final class PackArena: @unchecked Sendable {
    public let buffer: OwnedBuffer
    private var used = 0

    /// An arena for pieces whose byte counts add up to at most `byteCount` (each rounded up to 64).
    public init(byteCount: Int) {
        buffer = OwnedBuffer(byteCount: byteCount, zeroed: false, hugePages: true)
    }

    /// Space for byteCount bytes needs this much of an arena (64-byte aligned pieces).
    public static func footprint(_ byteCount: Int) -> Int { (byteCount + 63) / 64 * 64 }

    /// The next byteCount bytes (64-byte aligned), nil when the arena has no room left.
    public func take(_ byteCount: Int) -> OwnedBuffer? {
        let size = Self.footprint(byteCount)
        guard used + size <= buffer.byteCount else { return nil }
        defer { used += size }
        return OwnedBuffer(slicing: buffer, offset: used, byteCount: byteCount)
    }
}
