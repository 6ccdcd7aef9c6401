import Foundation

/// Typed, error-reporting access to one JSON object of tokenizer.json / tokenizer_config.json.
/// `section` is the dotted path of the object, used in every error so a bad file names the spot.
struct JSONReader {
    let object: [String: Any]
    let section: String

    init(_ value: Any?, section: String) throws {
        guard let dict = value as? [String: Any] else {
            throw TokenizerError.invalidValue(section: section, key: "", expected: "object",
                                              actual: JSONReader.kind(of: value))
        }
        self.object = dict
        self.section = section
    }

    /// Parses JSON data whose top level must be an object.
    static func parse(_ data: Data, file: String) throws -> JSONReader {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw TokenizerError.invalidJSON(file: file, reason: String(describing: error))
        }
        guard value is [String: Any] else {
            throw TokenizerError.invalidJSON(file: file, reason: "top level is \(kind(of: value)), not an object")
        }
        return try JSONReader(value, section: file)
    }

    static func kind(of value: Any?) -> String {
        guard let value else { return "nothing" }
        switch value {
        case is NSNull: return "null"
        case is String: return "string"
        case is [Any]: return "array"
        case is [String: Any]: return "object"
        case is Bool, is NSNumber: return "number"
        default: return String(describing: type(of: value))
        }
    }

    func has(_ key: String) -> Bool {
        if let v = object[key], !(v is NSNull) { return true }
        return false
    }

    private func mismatch(_ key: String, _ expected: String) -> TokenizerError {
        .invalidValue(section: section, key: key, expected: expected, actual: JSONReader.kind(of: object[key]))
    }

    func string(_ key: String) throws -> String {
        guard has(key) else { throw TokenizerError.missingKey(section: section, key: key) }
        guard let s = object[key] as? String else { throw mismatch(key, "string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let s = object[key] as? String else { throw mismatch(key, "string") }
        return s
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard has(key) else { return value }
        guard let b = object[key] as? Bool else { throw mismatch(key, "boolean") }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard has(key) else { throw TokenizerError.missingKey(section: section, key: key) }
        guard let n = object[key] as? Int else { throw mismatch(key, "integer") }
        return n
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard has(key) else { return nil }
        guard let n = object[key] as? Int else { throw mismatch(key, "integer") }
        return n
    }

    func array(_ key: String) throws -> [Any] {
        guard has(key) else { throw TokenizerError.missingKey(section: section, key: key) }
        guard let a = object[key] as? [Any] else { throw mismatch(key, "array") }
        return a
    }

    func reader(_ key: String) throws -> JSONReader {
        guard has(key) else { throw TokenizerError.missingKey(section: section, key: key) }
        return try JSONReader(object[key], section: "\(section).\(key)")
    }

    /// nil when the key is absent or null (tokenizer.json writes `"normalizer": null`).
    func optionalReader(_ key: String) throws -> JSONReader? {
        guard has(key) else { return nil }
        return try JSONReader(object[key], section: "\(section).\(key)")
    }

    /// The elements of an array of objects, each with its indexed section name.
    func readers(_ key: String) throws -> [JSONReader] {
        try array(key).enumerated().map { try JSONReader($1, section: "\(section).\(key)[\($0)]") }
    }

    /// A `{"String": "..."}` or `{"Regex": "..."}` pattern as used by Split, Replace.
    func pattern(_ key: String) throws -> Pattern {
        let p = try reader(key)
        if let s = try p.optionalString("String") { return .string(s) }
        if let r = try p.optionalString("Regex") { return .regex(r) }
        throw TokenizerError.invalidValue(section: p.section, key: "", expected: "{\"String\"} or {\"Regex\"}",
                                          actual: "keys \(p.object.keys.sorted())")
    }
}

/// A literal or regex pattern from tokenizer.json.
enum Pattern: Sendable, Equatable {
    case string(String)
    case regex(String)

    func compile(section: String) throws -> CompiledRegex {
        switch self {
        case .string(let s): return try CompiledRegex(literal: s, section: section)
        case .regex(let r): return try CompiledRegex(pattern: r, section: section)
        }
    }
}
