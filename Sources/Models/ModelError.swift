/// Errors of the Models target, each naming the file and key or tensor involved.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case invalidJSON(path: String, reason: String)
    case missingConfigKey(path: String, key: String)
    case invalidConfigValue(path: String, key: String, reason: String)
    case unsupportedModelType(path: String, modelType: String, supported: [String])
    case unsupportedRopeType(path: String, ropeType: String)
    /// A GGUF file whose `general.architecture` Squint has no model for.
    case unsupportedArchitecture(path: String, architecture: String, supported: [String])
    case contextFull(capacity: Int, needed: Int)
    case tokenOutOfRange(token: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): "cannot read \(path): \(reason)"
        case let .invalidJSON(path, reason): "\(path): invalid JSON: \(reason)"
        case let .missingConfigKey(path, key): "\(path): missing required key '\(key)'"
        case let .invalidConfigValue(path, key, reason): "\(path): key '\(key)': \(reason)"
        case let .unsupportedModelType(path, type, supported):
            "\(path): model_type '\(type)' is not supported (supported: \(supported.joined(separator: ", ")))"
        case let .unsupportedRopeType(path, type): "\(path): rope type '\(type)' is not supported"
        case let .unsupportedArchitecture(path, arch, supported):
            "\(path): GGUF architecture '\(arch)' is not supported (supported: \(supported.joined(separator: ", ")))"
        case let .contextFull(capacity, needed):
            "the context is full: \(needed) tokens needed, room for \(capacity) (raise --context)"
        case let .tokenOutOfRange(token, vocab): "token id \(token) is outside the vocabulary (\(vocab))"
        }
    }
}
