import Foundation

/// A parsed JSON value. tokenizer.json files are parsed with this small parser instead of
/// JSONSerialization: it is several times faster on 10 MB vocabularies (no bridging, no `Any` casts), and
/// it keeps object keys byte-exact and in order (Swift's String-keyed dictionaries would merge NFC and NFD
/// spellings of the same token).
enum JSON {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? { if case .int(let n) = self { return n } else { return nil } }
    var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    var object: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// Object members in file order. Lookup is a linear scan (the objects looked up by key are small;
/// the big ones, like the vocabulary, are iterated). A repeated key: the last one wins.
struct JSONObject {
    let keys: [String]
    let values: [JSON]

    subscript(key: String) -> JSON? {
        for i in keys.indices.reversed() where keys[i].utf8.elementsEqual(key.utf8) { return values[i] }
        return nil
    }
}

struct JSONParseError: Error, CustomStringConvertible {
    let offset: Int
    let message: String
    var description: String { "\(message) at byte \(offset)" }
}

enum JSONParser {
    static func parse(_ data: Data) throws -> JSON {
        try data.withUnsafeBytes { raw in
            var p = Parser(bytes: raw.bindMemory(to: UInt8.self))
            p.skipSpace()
            let value = try p.value(depth: 0)
            p.skipSpace()
            guard p.pos == p.bytes.count else { throw p.error("unexpected data after the top-level value") }
            return value
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var pos = 0
        static let maxDepth = 512

        func error(_ message: String) -> JSONParseError { JSONParseError(offset: pos, message: message) }

        mutating func skipSpace() {
            while pos < bytes.count {
                switch bytes[pos] {
                case 0x20, 0x09, 0x0A, 0x0D: pos += 1
                default: return
                }
            }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws {
            guard pos < bytes.count else { throw error("unexpected end of data, expected \(what)") }
            guard bytes[pos] == byte else { throw error("expected \(what)") }
            pos += 1
        }

        mutating func literal(_ text: StaticString, _ value: JSON) throws -> JSON {
            let n = text.utf8CodeUnitCount
            guard pos + n <= bytes.count else { throw error("unexpected end of data") }
            for i in 0..<n where bytes[pos + i] != text.utf8Start[i] { throw error("invalid literal") }
            pos += n
            return value
        }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < Parser.maxDepth else { throw error("nesting deeper than \(Parser.maxDepth)") }
            guard pos < bytes.count else { throw error("unexpected end of data, expected a value") }
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                pos += 1
                var keys: [String] = []
                var values: [JSON] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(JSONObject(keys: keys, values: values)) }
                while true {
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
                        throw error(pos < bytes.count ? "expected a string key" : "unexpected end of data in an object")
                    }
                    let key = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "':'")
                    skipSpace()
                    keys.append(key)
                    values.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw error("unexpected end of data in an object") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    try expect(UInt8(ascii: "}"), "',' or '}'")
                    return .object(JSONObject(keys: keys, values: values))
                }
            case UInt8(ascii: "["):
                pos += 1
                var items: [JSON] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw error("unexpected end of data in an array") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    try expect(UInt8(ascii: "]"), "',' or ']'")
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try number()
            default:
                throw error("unexpected character")
            }
        }

        mutating func number() throws -> JSON {
            let start = pos
            var isInteger = true
            if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            let digitsStart = pos
            while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
            guard pos > digitsStart else { throw error("invalid number") }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
                isInteger = false
                pos += 1
                let f = pos
                while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
                guard pos > f else { throw error("invalid number") }
            }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
                isInteger = false
                pos += 1
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
                let e = pos
                while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
                guard pos > e else { throw error("invalid number") }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
            if isInteger, let n = Int(text) { return .int(n) }
            guard let d = Double(text) else { throw JSONParseError(offset: start, message: "invalid number") }
            return .double(d)
        }

        /// Parses a string starting at the opening quote. Strings without escapes (nearly all) are one copy.
        mutating func string() throws -> String {
            pos += 1
            let start = pos
            while pos < bytes.count {
                let b = bytes[pos]
                if b == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                    pos += 1
                    return s
                }
                if b == UInt8(ascii: "\\") { return try escapedString(start) }
                if b < 0x20 { throw error("control character in a string") }
                pos += 1
            }
            throw error("unexpected end of data in a string")
        }

        mutating func escapedString(_ start: Int) throws -> String {
            var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<pos]))
            while pos < bytes.count {
                let b = bytes[pos]
                if b == UInt8(ascii: "\"") {
                    pos += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if b < 0x20 { throw error("control character in a string") }
                if b != UInt8(ascii: "\\") { out.append(b); pos += 1; continue }
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code), pos + 1 < bytes.count,
                       bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                        let save = pos
                        pos += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            pos = save
                        }
                    }
                    // A lone surrogate is not a scalar: it becomes U+FFFD, as Python's decoder would refuse it.
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    out.append(contentsOf: String(scalar).utf8)
                default:
                    throw error("invalid escape")
                }
            }
            throw error("unexpected end of data in a string")
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count else { throw error("unexpected end of data in \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                pos += 1
            }
            return v
        }
    }
}
