import TensorCore

/// One `.gguf` file (versions 2 and 3, little-endian), mapped. Layout (ggml docs/gguf.md):
///
///     "GGUF" | u32 version | u64 tensor_count | u64 kv_count
///     kv_count x (string key | u32 value type | value)        strings: u64 length + UTF-8 bytes
///     tensor_count x (string name | u32 n_dims | n_dims x u64 ne | u32 ggml type | u64 offset)
///     padding to `general.alignment` (default 32) | data section
///
/// Every count, length, dimension and offset is checked against the file's real size while parsing, so a
/// truncated or corrupt file is a `ModelFormatError` naming the file and the key or tensor, never a crash
/// or an out-of-bounds read.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let mapping: MappedFile
    public let version: UInt32
    public let alignment: Int
    /// File offset where the data section starts (tensor offsets are relative to it).
    public let dataOffset: Int
    public private(set) var metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]

    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS: tensors have at most four dimensions.
    static let maxDims = 4

    /// Whether the file at `path` starts with the GGUF magic (for format sniffing; reads 4 bytes).
    public static func hasMagic(path: String) -> Bool {
        guard let m = try? MappedFile(path: path), m.size >= 4 else { return false }
        return m.bytes(at: 0, count: 4) == Array("GGUF".utf8)
    }

    public convenience init(path: String) throws {
        try self.init(mapping: MappedFile.open(forModelFormat: path))
    }

    public init(mapping: MappedFile) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        let size = mapping.size
        guard size >= 4, let base = mapping.base else {
            throw ModelFormatError.ggufTruncated(path: path, offset: 0, needed: 4, fileSize: size, reading: "the magic")
        }
        let magic = mapping.bytes(at: 0, count: 4)
        guard magic == Array("GGUF".utf8) else { throw ModelFormatError.ggufBadMagic(path: path, found: magic) }
        var cur = GGUFCursor(base: base, size: size, path: path, offset: 4)
        version = try cur.u32("the version")
        guard version == 2 || version == 3 else {
            throw ModelFormatError.ggufUnsupportedVersion(path: path, version: version)
        }
        // Smallest encodings: a tensor info is an 8-byte name length, n_dims, type and offset (24 bytes);
        // a key-value pair an 8-byte key length, a type and at least one value byte (13 bytes).
        let tensorCount = try cur.count("the tensor count", minItemBytes: 24)
        let kvCount = try cur.count("the metadata count", minItemBytes: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(min(kvCount, 1 << 12))
        for i in 0..<kvCount {
            let key = try cur.string("key \(i) of \(kvCount)")
            let type = try cur.valueType("the value type of '\(key)'", key: key)
            let value = try cur.value(type, key: key)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw ModelFormatError.ggufInvalid(path: path, context: "key '\(key)'", reason: "duplicate key")
            }
            keys.append(key)
        }

        var alignment = Self.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard case let .uint32(v) = a, v > 0, v & (v - 1) == 0 else {
                throw ModelFormatError.ggufInvalid(path: path, context: "key 'general.alignment'",
                                                   reason: "must be a power-of-two u32, found \(a.type) \(a)")
            }
            alignment = Int(v)
        }

        var raw: [(name: String, dims: [Int], type: GGMLType, offset: UInt64)] = []
        raw.reserveCapacity(min(tensorCount, 1 << 12))
        for i in 0..<tensorCount {
            let name = try cur.string("the name of tensor \(i) of \(tensorCount)")
            let nDims = try cur.u32("the dimension count of tensor '\(name)'")
            guard nDims >= 1, nDims <= Self.maxDims else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: name,
                                                          reason: "\(nDims) dimensions (GGUF allows 1 to \(Self.maxDims))")
            }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let ne = try cur.u64("dimension \(d) of tensor '\(name)'")
                // 2^48 elements along one axis is far beyond any real tensor; it also keeps products small.
                guard ne < 1 << 48 else {
                    throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "dimension \(d) is \(ne)")
                }
                dims.append(Int(ne))
            }
            let code = try cur.u32("the type of tensor '\(name)'")
            guard let type = GGMLType.known(code) else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "unknown ggml type \(code)")
            }
            let offset = try cur.u64("the data offset of tensor '\(name)'")
            raw.append((name, dims, type, offset))
        }

        // The data section starts at the first multiple of the alignment after the tensor infos.
        let headerEnd = cur.offset
        let dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let dataSize = max(0, size - dataOffset)

        var tensors: [String: GGUFTensorInfo] = [:]
        var names: [String] = []
        for t in raw {
            let info = try Self.check(t.name, dims: t.dims, type: t.type, offset: t.offset, alignment: alignment,
                                      dataSize: dataSize, path: path)
            guard tensors.updateValue(info, forKey: t.name) == nil else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: t.name, reason: "duplicate tensor name")
            }
            names.append(t.name)
        }
        // Everything before the data section has been copied out; its pages need not stay resident
        // (a 150k-token vocabulary makes them several MB).
        mapping.releasePages(before: headerEnd)
        self.alignment = alignment
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.tensorNames = names
    }

    /// Drops the metadata arrays of more than `count` elements (a vocabulary, its scores, types and merges:
    /// ~13 MB of values for 150k tokens) once they have been read, so that they are not resident while the
    /// weights load and for as long as the model lives. Their keys stay in `metadataKeys`. Call it before
    /// sharing the file across threads.
    public func dropMetadataArrays(longerThan count: Int) {
        metadata = metadata.filter { _, v in
            if case let .array(_, items) = v { return items.count <= count }
            return true
        }
    }

    /// Element count, row blocking, byte size and bounds of one tensor.
    private static func check(_ name: String, dims: [Int], type: GGMLType, offset: UInt64, alignment: Int,
                              dataSize: Int, path: String) throws -> GGUFTensorInfo {
        var count = 1
        for d in dims {
            let (m, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, m < 1 << 56 else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "dimensions \(dims) overflow")
            }
            count = m
        }
        // Blocks never straddle rows: ne[0] must be a whole number of blocks.
        guard dims[0] % type.blockSize == 0 else {
            throw ModelFormatError.invalidTensorEntry(
                path: path, tensor: name,
                reason: "row length \(dims[0]) is not a multiple of the \(type) block size \(type.blockSize)")
        }
        let bytes = count / type.blockSize * type.blockBytes
        guard offset % UInt64(alignment) == 0 else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: name,
                                                      reason: "data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        guard offset <= UInt64(dataSize), bytes <= dataSize - Int(offset) else {
            // An offset too large for an Int (a corrupt field, not a short file) is reported as it stands.
            let start = offset < UInt64(1 << 60) ? Int(offset) : -1
            throw ModelFormatError.tensorOutOfBounds(path: path, tensor: name, start: start,
                                                     end: start < 0 ? -1 : start + bytes, dataSize: dataSize)
        }
        return GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(offset), byteCount: bytes)
    }

    public var names: [String] { tensorNames }

    private func info(_ name: String) throws -> GGUFTensorInfo {
        guard let info = tensors[name] else { throw ModelFormatError.missingTensor(name: name, directory: path) }
        return info
    }

    /// A view of a tensor whose type Squint computes with (F32, F16, BF16 and the `DType` quantized
    /// kinds), shaped row-major: GGUF dims [ne0, ne1, ...] become shape [..., ne1, ne0].
    public func tensor(_ name: String) throws -> TensorView {
        let info = try info(name)
        guard let dtype = info.type.dtype else {
            throw ModelFormatError.unsupportedDType(path: path, tensor: name, dtype: info.type.name)
        }
        return TensorView(name: name, dtype: dtype, shape: info.shape, data: try start(of: info), owner: mapping)
    }

    /// Views of every tensor Squint computes with, by name, and the names and types of the others
    /// (as `SafetensorsFile.tensors` / `.unsupported`), for building a weight store.
    public func views() -> (tensors: [String: TensorView], unsupported: [String: String]) {
        var views: [String: TensorView] = [:], unsupported: [String: String] = [:]
        for (name, info) in tensors {
            if let view = try? tensor(name) { views[name] = view } else { unsupported[name] = info.type.name }
        }
        return (views, unsupported)
    }

    /// The stored bytes of any tensor (quantized blocks as they are), inside the mapping.
    public func rawData(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        return UnsafeRawBufferPointer(start: try start(of: info), count: info.byteCount)
    }

    private func start(of info: GGUFTensorInfo) throws -> UnsafeRawPointer {
        // Bounds were checked at load; a zero-size tensor at the very end still gets a valid pointer.
        guard let base = mapping.base else {
            throw ModelFormatError.tensorOutOfBounds(path: path, tensor: info.name, start: info.offset,
                                                     end: info.offset + info.byteCount, dataSize: 0)
        }
        return base + min(dataOffset + info.offset, mapping.size)
    }
}
