import Foundation

/// A parsed JSON object with typed, error-reporting accessors. Keys are looked up in the object itself;
/// `path` is only for messages.
public struct JSONConfig: @unchecked Sendable {
    public let path: String
    public let object: [String: Any]

    public init(path: String, object: [String: Any]) {
        self.path = path
        self.object = object
    }

    public static func load(_ url: URL) throws -> JSONConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.cannotRead(path: url.path, reason: (error as NSError).localizedFailureReason ?? "\(error.localizedDescription)")
        }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelError.invalidJSON(path: url.path, reason: error.localizedDescription)
        }
        guard let object = json as? [String: Any] else {
            throw ModelError.invalidJSON(path: url.path, reason: "top level is not an object")
        }
        return JSONConfig(path: url.path, object: object)
    }

    public static func loadIfPresent(_ url: URL) throws -> JSONConfig? {
        FileManager.default.fileExists(atPath: url.path) ? try load(url) : nil
    }

    public func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    public func child(_ key: String) -> JSONConfig? {
        guard let sub = object[key] as? [String: Any] else { return nil }
        return JSONConfig(path: path, object: sub)
    }

    /// A nested object that must be there (e.g. `vision_config`).
    public func requiredChild(_ key: String) throws -> JSONConfig {
        guard let sub = child(key) else { throw ModelError.missingConfigKey(path: path, key: key) }
        return sub
    }

    private func number(_ key: String) throws -> NSNumber? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected a number, found \(value)")
        }
        return n
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let n = try number(key) else { return nil }
        let d = n.doubleValue
        guard d.isFinite, d == d.rounded(), abs(d) < 1e15 else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected an integer, found \(n)")
        }
        return n.intValue
    }

    public func int(_ key: String) throws -> Int {
        guard let v = try optionalInt(key) else { throw ModelError.missingConfigKey(path: path, key: key) }
        return v
    }

    /// A positive integer (sizes, counts).
    public func positiveInt(_ key: String) throws -> Int {
        let v = try int(key)
        guard v > 0 else { throw ModelError.invalidConfigValue(path: path, key: key, reason: "must be positive, found \(v)") }
        return v
    }

    public func optionalDouble(_ key: String) throws -> Double? {
        guard let n = try number(key) else { return nil }
        guard n.doubleValue.isFinite else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "not a finite number")
        }
        return n.doubleValue
    }

    public func double(_ key: String) throws -> Double {
        guard let v = try optionalDouble(key) else { throw ModelError.missingConfigKey(path: path, key: key) }
        return v
    }

    public func optionalBool(_ key: String) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected true/false, found \(value)")
        }
        return n.boolValue
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let s = value as? String else {
            throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected a string, found \(value)")
        }
        return s
    }

    /// An int or a list of ints (e.g. `eos_token_id`).
    public func intList(_ key: String) throws -> [Int] {
        guard let value = object[key], !(value is NSNull) else { return [] }
        if let n = value as? NSNumber { return [n.intValue] }
        if let list = value as? [Any] {
            return try list.map {
                guard let n = $0 as? NSNumber else {
                    throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected integers, found \($0)")
                }
                return n.intValue
            }
        }
        throw ModelError.invalidConfigValue(path: path, key: key, reason: "expected an integer or a list, found \(value)")
    }
}
