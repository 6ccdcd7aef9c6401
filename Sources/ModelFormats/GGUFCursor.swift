/// A bounds-checked little-endian reader over a mapped GGUF file's header. Every read checks the bytes it
/// needs against the file size first and throws `ModelFormatError.ggufTruncated` naming what it was
/// reading, so no input can make it read outside the mapping.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    var offset = 0

    /// Bytes left after the current offset.
    var remaining: Int { size - offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw ModelFormatError.ggufTruncated(path: path, offset: offset, needed: n, fileSize: size, reading: what())
        }
    }

    mutating func scalar<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try scalar(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try scalar(UInt64.self, what()) }

    /// Most items one count may announce (tensors, keys, array elements; not string bytes). Real files
    /// stay far below it (vocabularies and merge lists have a few hundred thousand entries); it keeps a
    /// corrupt count inside a large file from reserving gigabytes.
    static let maxItems: UInt64 = 1 << 24

    /// A u64 count or size, which must fit in what is left of the file when each item takes at least
    /// `minItemBytes` bytes: an absurd count is rejected before anything is allocated for it.
    /// `limit` caps item counts (nil for byte lengths).
    mutating func count(_ what: @autoclosure () -> String, minItemBytes: Int, limit: UInt64? = maxItems) throws -> Int {
        let start = offset
        let n = try u64(what())
        if let limit, n > limit {
            throw ModelFormatError.ggufInvalid(path: path, context: what(),
                                               reason: "count \(n) at offset \(start) exceeds the reader's limit of \(limit)")
        }
        let per = UInt64(max(minItemBytes, 1))
        guard n <= UInt64(remaining) / per else {
            // A count the whole file could hold means the file was cut short; anything larger is garbage.
            if n <= UInt64(size) / per {
                throw ModelFormatError.ggufTruncated(path: path, offset: offset, needed: Int(n * per),
                                                     fileSize: size, reading: what())
            }
            throw ModelFormatError.ggufInvalid(
                path: path, context: what(),
                reason: "count \(n) at offset \(start) cannot fit in the \(remaining) bytes left of the file")
        }
        return Int(n)
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (not NUL-terminated). Invalid UTF-8 is repaired
    /// with U+FFFD rather than rejected, as tokenizer vocabularies may hold partial byte sequences.
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try count(what(), minItemBytes: 1, limit: nil)
        let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: n), as: UTF8.self)
        offset += n
        return s
    }

    /// Nested arrays deeper than this are rejected (real files nest at most once).
    static let maxDepth = 8

    /// One metadata value of `type`; `key` names it in errors.
    mutating func value(_ type: GGUFValueType, key: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try scalar(UInt8.self, "value of '\(key)'"))
        case .int8: return .int8(try scalar(Int8.self, "value of '\(key)'"))
        case .uint16: return .uint16(try scalar(UInt16.self, "value of '\(key)'"))
        case .int16: return .int16(try scalar(Int16.self, "value of '\(key)'"))
        case .uint32: return .uint32(try scalar(UInt32.self, "value of '\(key)'"))
        case .int32: return .int32(try scalar(Int32.self, "value of '\(key)'"))
        case .uint64: return .uint64(try scalar(UInt64.self, "value of '\(key)'"))
        case .int64: return .int64(try scalar(Int64.self, "value of '\(key)'"))
        case .float32: return .float32(Float(bitPattern: try scalar(UInt32.self, "value of '\(key)'")))
        case .float64: return .float64(Double(bitPattern: try scalar(UInt64.self, "value of '\(key)'")))
        case .bool:
            let at = offset
            let b = try scalar(UInt8.self, "value of '\(key)'")
            guard b <= 1 else {
                throw ModelFormatError.ggufInvalid(path: path, context: "key '\(key)'",
                                                   reason: "bool byte \(b) at offset \(at) is neither 0 nor 1")
            }
            return .bool(b == 1)
        case .string: return .string(try string("string value of '\(key)'"))
        case .array:
            guard depth < Self.maxDepth else {
                throw ModelFormatError.ggufInvalid(path: path, context: "key '\(key)'",
                                                   reason: "arrays nested deeper than \(Self.maxDepth)")
            }
            let elementType = try valueType("array element type of '\(key)'", key: key)
            // The smallest encoding of one element: a string or array still has its 8-byte length.
            let minBytes: Int = switch elementType {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64, .string: 8
            case .array: 12
            }
            let n = try count("array length of '\(key)'", minItemBytes: minBytes)
            var items: [GGUFValue] = []
            items.reserveCapacity(min(n, 1 << 16))
            for _ in 0..<n { items.append(try value(elementType, key: key, depth: depth + 1)) }
            return .array(elementType, items)
        }
    }

    mutating func valueType(_ what: @autoclosure () -> String, key: String) throws -> GGUFValueType {
        let at = offset
        let raw = try u32(what())
        guard let t = GGUFValueType(rawValue: raw) else {
            throw ModelFormatError.ggufInvalid(path: path, context: "key '\(key)'",
                                               reason: "unknown value type \(raw) at offset \(at)")
        }
        return t
    }
}
