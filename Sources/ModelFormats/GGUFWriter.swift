import Foundation
import TensorCore

/// Writes a GGUF v3 file (little-endian) in the layout `GGUFFile` reads and gguf-py's `GGUFWriter`
/// writes: header, metadata in insertion order, tensor infos in insertion order, padding to the
/// alignment, then each tensor's bytes padded to the alignment (offsets relative to the data section).
public struct GGUFWriter {
    public let alignment: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    /// A tensor to write: its info, and how to get its bytes (called once, while writing, so a converted
    /// model is never held in memory whole).
    private struct Entry {
        var name: String
        var shape: [Int]
        var dtype: DType
        var produce: () throws -> TensorView
        var byteCount: Int { dtype.byteCount(elements: shape.reduce(1, *)) }
    }

    private var tensors: [Entry] = []
    private var tensorIndex: Set<String> = []

    /// `alignment` other than 32 is recorded as `general.alignment` (a u32), as llama.cpp expects.
    public init(alignment: Int = GGUFFile.defaultAlignment) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.alignment = alignment
        if alignment != GGUFFile.defaultAlignment { keys.append("general.alignment"); values["general.alignment"] = .uint32(UInt32(alignment)) }
    }

    public var metadataKeys: [String] { keys }
    public var tensorNames: [String] { tensors.map(\.name) }
    /// Each tensor's type name ("F32", "Q8_0", ...), in order.
    public var tensorTypes: [String] { tensors.map(\.dtype.rawValue) }
    public func value(_ key: String) -> GGUFValue? { values[key] }

    /// Sets a metadata value; a key set twice keeps its first position and takes the new value.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    /// Adds a tensor (row-major `view.shape`, stored as `view.dtype`; GGUF dims are written reversed).
    public mutating func add(_ view: TensorView) throws {
        try add(name: view.name, shape: view.shape, dtype: view.dtype) { view }
    }

    /// Adds a tensor whose bytes `produce` makes when the file is written; it must return a view of
    /// exactly this shape and dtype.
    public mutating func add(name: String, shape: [Int], dtype: DType, _ produce: @escaping () throws -> TensorView) throws {
        guard !tensorIndex.contains(name) else {
            throw ModelFormatError.invalidTensorEntry(path: "(gguf writer)", tensor: name, reason: "added twice")
        }
        guard (1...GGUFFile.maxDims).contains(shape.count) else {
            throw ModelFormatError.invalidTensorEntry(path: "(gguf writer)", tensor: name,
                                                      reason: "\(shape.count) dimensions (GGUF allows 1 to \(GGUFFile.maxDims))")
        }
        guard (shape.last ?? 1) % dtype.blockSize == 0 else {
            throw ModelFormatError.invalidTensorEntry(path: "(gguf writer)", tensor: name,
                                                      reason: "row length \(shape.last ?? 1) is not a multiple of the \(dtype) block size")
        }
        tensorIndex.insert(name)
        tensors.append(Entry(name: name, shape: shape, dtype: dtype, produce: produce))
    }

    private func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// The header (magic through the padding before the data section).
    public func header() throws -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: Array("GGUF".utf8))
        Self.append(UInt32(3), to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        Self.append(UInt64(keys.count), to: &out)
        for key in keys {
            guard let value = values[key] else { continue }
            Self.append(string: key, to: &out)
            Self.append(UInt32(value.type.rawValue), to: &out)
            try Self.append(value: value, key: key, to: &out)
        }
        var offset = 0
        for t in tensors {
            let type = try GGMLType.of(t.dtype)
            Self.append(string: t.name, to: &out)
            Self.append(UInt32(t.shape.count), to: &out)
            for d in t.shape.reversed() { Self.append(UInt64(d), to: &out) }
            Self.append(type.code, to: &out)
            Self.append(UInt64(offset), to: &out)
            offset += padded(t.byteCount)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: padded(out.count) - out.count))
        return out
    }

    /// Writes the file: to `path`.partial first, renamed into place when complete.
    public func write(to path: String) throws {
        let partial = path + ".partial"
        let fm = FileManager.default
        guard fm.createFile(atPath: partial, contents: nil) else {
            throw ModelFormatError.cannotWrite(path: path, reason: "cannot create the file (directory missing or not writable?)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
            defer { try? handle.close() }
            try handle.write(contentsOf: Data(try header()))
            let zeros = Data(count: alignment)
            for entry in tensors {
                let t = try entry.produce()
                guard t.shape == entry.shape, t.dtype == entry.dtype else {
                    throw ModelFormatError.invalidTensorEntry(path: path, tensor: entry.name,
                        reason: "produced \(t.dtype)\(t.shape), declared \(entry.dtype)\(entry.shape)")
                }
                try withExtendedLifetime(t.owner) {
                    try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: t.data),
                                                      count: t.byteCount, deallocator: .none))
                }
                let pad = padded(t.byteCount) - t.byteCount
                if pad > 0 { try handle.write(contentsOf: zeros.prefix(pad)) }
            }
            try handle.synchronize()
            try? fm.removeItem(atPath: path)
            try fm.moveItem(atPath: partial, toPath: path)
        } catch let error as ModelFormatError {
            try? fm.removeItem(atPath: partial)
            throw error
        } catch {
            try? fm.removeItem(atPath: partial)
            throw ModelFormatError.cannotWrite(path: path, reason: "write failed: \(error.localizedDescription)")
        }
    }

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func append(string: String, to out: inout [UInt8]) {
        let bytes = Array(string.utf8)
        append(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    private static func append(value: GGUFValue, key: String, to out: inout [UInt8]) throws {
        switch value {
        case let .uint8(v): append(v, to: &out)
        case let .int8(v): append(v, to: &out)
        case let .uint16(v): append(v, to: &out)
        case let .int16(v): append(v, to: &out)
        case let .uint32(v): append(v, to: &out)
        case let .int32(v): append(v, to: &out)
        case let .uint64(v): append(v, to: &out)
        case let .int64(v): append(v, to: &out)
        case let .float32(v): append(v.bitPattern, to: &out)
        case let .float64(v): append(v.bitPattern, to: &out)
        case let .bool(v): out.append(v ? 1 : 0)
        case let .string(s): append(string: s, to: &out)
        case let .array(type, items):
            append(UInt32(type.rawValue), to: &out)
            append(UInt64(items.count), to: &out)
            for item in items {
                // Every element must have the declared type (a nested array writes its own element type).
                guard item.type == type else {
                    throw ModelFormatError.ggufInvalid(path: "(gguf writer)", context: "key '\(key)'",
                                                       reason: "array of \(type) holds a \(item.type)")
                }
                try append(value: item, key: key, to: &out)
            }
        }
    }
}

extension GGMLType {
    /// The GGML type code of a TensorCore dtype.
    public static func of(_ dtype: DType) throws -> GGMLType {
        for code in UInt32(0)...41 {
            if let t = known(code), t.name == dtype.rawValue { return t }
        }
        throw ModelFormatError.unsupportedDType(path: "(gguf writer)", tensor: "", dtype: dtype.rawValue)
    }
}
