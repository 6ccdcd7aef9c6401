import Foundation
import ModelFormats

/// Typed, error-reporting access to a GGUF file's metadata (as `JSONConfig` is for config.json).
struct GGUFMetadata {
    let path: String
    let values: [String: GGUFValue]

    init(_ file: GGUFFile) {
        path = file.path
        values = file.metadata
    }

    func has(_ key: String) -> Bool { values[key] != nil }

    func optionalInt(_ key: String) throws -> Int? {
        guard let v = values[key] else { return nil }
        guard let i = v.int else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected an integer, found \(v.type) \(v)")
        }
        return i
    }

    func int(_ key: String) throws -> Int {
        guard let v = try optionalInt(key) else { throw ModelError.missingConfigKey(path: path, key: key) }
        return v
    }

    func positiveInt(_ key: String) throws -> Int {
        let v = try int(key)
        guard v > 0 else { throw ModelError.invalidConfigValue(path: path, key: key, reason: "must be positive, found \(v)") }
        return v
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let v = values[key] else { return nil }
        guard let d = v.double, d.isFinite else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected a finite number, found \(v.type) \(v)")
        }
        return d
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = values[key] else { return nil }
        guard let s = v.string else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected a string, found \(v.type)")
        }
        return s
    }

    func string(_ key: String) throws -> String {
        guard let v = try optionalString(key) else { throw ModelError.missingConfigKey(path: path, key: key) }
        return v
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let v = values[key] else { return nil }
        guard let b = v.bool else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected a bool, found \(v.type)")
        }
        return b
    }

    func optionalStrings(_ key: String) throws -> [String]? {
        guard let v = values[key] else { return nil }
        guard let list = v.strings else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected an array of strings, found \(v.type) \(v)")
        }
        return list
    }

    func optionalInts(_ key: String) throws -> [Int]? {
        try optionalArray(key, of: "integers") { $0.int }
    }

    /// An array of numbers (`tokenizer.ggml.scores` is f32); NaN and infinities are kept, as llama.cpp
    /// compares them as they are.
    func optionalDoubles(_ key: String) throws -> [Double]? {
        try optionalArray(key, of: "numbers") { $0.double }
    }

    /// An array whose every element `convert` accepts; nil when the key is absent.
    private func optionalArray<T>(_ key: String, of kind: String, _ convert: (GGUFValue) -> T?) throws -> [T]? {
        guard let v = values[key] else { return nil }
        guard let items = v.array else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected an array of \(kind), found \(v.type)")
        }
        return try items.map {
            guard let x = convert($0) else {
                throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected \(kind), found \($0.type)")
            }
            return x
        }
    }
}
