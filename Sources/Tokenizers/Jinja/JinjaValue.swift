import Foundation

/// A value inside a chat template, with Python's data model where templates can observe it
/// (truthiness, `==`, `str()`), because transformers renders templates with Python's jinja2.
public indirect enum JinjaValue: Sendable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    /// A Python tuple: behaves like an array but prints as `(a, b)` and is never equal to a list.
    case tuple([JinjaValue])
    /// A Python dict; keeps insertion order like Python 3.7+.
    case object(JinjaObject)
    /// `namespace(...)`: the one mutable value templates can create (`{% set ns.x = 1 %}`).
    case namespace(JinjaNamespace)
    /// Macros, globals like `raise_exception`, and `loop.cycle`.
    case callable(JinjaCallable)
}

/// An insertion-ordered dictionary with string keys (every key a chat template sees is a string).
public struct JinjaObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var values: [JinjaValue] { keys.map { storage[$0] ?? .none } }
    public var pairs: [(String, JinjaValue)] { keys.map { ($0, storage[$0] ?? .none) } }

    /// Python dict equality ignores order.
    public static func == (lhs: JinjaObject, rhs: JinjaObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (key, value) in lhs.storage {
            guard let other = rhs.storage[key], other == value else { return false }
        }
        return true
    }
}

/// Storage for `namespace()`. A reference type on purpose: jinja2 namespaces are shared objects, so a
/// `set ns.x` inside a loop body is seen after the loop. Only ever touched by one render on one thread.
public final class JinjaNamespace: @unchecked Sendable {
    var attributes: JinjaObject
    init(_ attributes: JinjaObject) { self.attributes = attributes }
}

/// Arguments of a call: positional then keyword, as written.
struct JinjaArguments {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    func keywordValue(_ name: String) -> JinjaValue? { keyword.first { $0.0 == name }?.1 }

    /// Python-style binding: positional `index`, else keyword `name`, else nil.
    func value(_ index: Int, _ name: String) -> JinjaValue? {
        if index < positional.count { return positional[index] }
        return keywordValue(name)
    }
}

/// A callable value. Holds a closure that may capture the running interpreter, which lives for one
/// render on one thread; hence the unchecked Sendable.
public final class JinjaCallable: @unchecked Sendable {
    let name: String
    let body: (JinjaArguments) throws -> JinjaValue
    init(name: String, body: @escaping (JinjaArguments) throws -> JinjaValue) {
        self.name = name
        self.body = body
    }
}

extension JinjaValue: Equatable {
    /// Python `==`: numbers compare across int/float/bool, tuples never equal lists, undefined only
    /// equals undefined (jinja2's Undefined.__eq__ compares types).
    public static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)), let (.tuple(a), .tuple(b)): return a == b
        case let (.object(a), .object(b)): return a == b
        case let (.namespace(a), .namespace(b)): return a === b
        case let (.callable(a), .callable(b)): return a === b
        default:
            if let a = lhs.numericValue, let b = rhs.numericValue {
                switch (a, b) {
                case let (.int(x), .int(y)): return x == y
                default: return a.asDouble == b.asDouble
                }
            }
            return false
        }
    }
}

extension JinjaValue {
    /// Builds a value from `JSONSerialization` output. NSNumber booleans are told apart from numbers by
    /// their Objective-C type code ("c"), since `as? Bool` also succeeds for the numbers 0 and 1.
    public init(json: Any) {
        switch json {
        case let s as String: self = .string(s)
        case let n as NSNumber:
            let code = String(cString: n.objCType)
            if code == "c" || code == "B" {
                self = .bool(n.boolValue)
            } else if code == "d" || code == "f" {
                self = .double(n.doubleValue)
            } else if let exact = Int(exactly: n.int64Value), NSNumber(value: n.int64Value) == n {
                self = .int(exact)
            } else {
                self = .double(n.doubleValue)
            }
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(i)
        case let d as Double: self = .double(d)
        case let a as [Any]: self = .array(a.map { JinjaValue(json: $0) })
        case let d as [String: Any]:
            // JSONSerialization does not keep key order; sort for determinism. Callers that need the
            // file's order should build the object themselves (see `JinjaValue(jsonData:)`).
            self = .object(JinjaObject(d.keys.sorted().map { ($0, JinjaValue(json: d[$0] as Any)) }))
        case is NSNull: self = .none
        default: self = .none
        }
    }

    /// Parses JSON text keeping object key order (JSONSerialization loses it, and templates that
    /// iterate `tool.items()` or print `tojson` show the order).
    public init(jsonData: Data) throws {
        self = try JinjaJSONParser.parse(jsonData)
    }

    var numericValue: JinjaNumber? {
        switch self {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .namespace, .callable: return true
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Python's type name, used in error messages the way jinja2 words them.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .tuple: return "tuple"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }
}

enum JinjaNumber {
    case int(Int)
    case double(Double)
    var asDouble: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }
}

/// Literal conveniences for building contexts in code: `["role": "user", "content": "Hi"]`.
extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(JinjaObject(elements)) }
}
