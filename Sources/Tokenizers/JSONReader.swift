import Foundation

/// Typed, error-reporting access to one JSON object of tokenizer.json / tokenizer_config.json.
/// `section` is the dotted path of the object, used in every error so a bad file names the spot.
struct JSONReader {
    let object: JSONObject
    let section: String

    init(_ value: JSON?, section: String) throws {
        guard let value, case .object(let o) = value else {
            throw TokenizerError.invalidValue(section: section, key: "", expected: "object",
                                              actual: value?.kind ?? "nothing")
        }
        self.object = o
        self.section = section
    }

    /// Parses JSON data whose top level must be an object.
    static func parse(_ data: Data, file: String) throws -> JSONReader {
        let value: JSON
        do {
            value = try JSONParser.parse(data)
        } catch {
            throw TokenizerError.invalidJSON(file: file, reason: String(describing: error))
        }
        guard case .object = value else {
            throw TokenizerError.invalidJSON(file: file, reason: "top level is \(value.kind), not an object")
        }
        return try JSONReader(value, section: file)
    }

    /// The value of `key`, nil when absent or null (tokenizer.json writes `"normalizer": null`).
    subscript(key: String) -> JSON? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    func has(_ key: String) -> Bool { self[key] != nil }

    func mismatch(_ key: String, _ expected: String) -> TokenizerError {
        .invalidValue(section: section, key: key, expected: expected, actual: object[key]?.kind ?? "nothing")
    }

    private func required(_ key: String) throws -> JSON {
        guard let v = self[key] else { throw TokenizerError.missingKey(section: section, key: key) }
        return v
    }

    func string(_ key: String) throws -> String {
        guard let s = try required(key).string else { throw mismatch(key, "string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v.string else { throw mismatch(key, "string") }
        return s
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = self[key] else { return value }
        guard case .bool(let b) = v else { throw mismatch(key, "boolean") }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let n = try required(key).int else { throw mismatch(key, "integer") }
        return n
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let v = self[key] else { return nil }
        guard let n = v.int else { throw mismatch(key, "integer") }
        return n
    }

    func array(_ key: String) throws -> [JSON] {
        guard let a = try required(key).array else { throw mismatch(key, "array") }
        return a
    }

    func reader(_ key: String) throws -> JSONReader {
        try JSONReader(try required(key), section: "\(section).\(key)")
    }

    func optionalReader(_ key: String) throws -> JSONReader? {
        guard let v = self[key] else { return nil }
        return try JSONReader(v, section: "\(section).\(key)")
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
                                          actual: "keys \(p.object.keys)")
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
