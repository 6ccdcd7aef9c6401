import Foundation

/// Every failure of the Tokenizers target. Each case names where it happened (file, tokenizer.json section
/// such as `pre_tokenizer.pretokenizers[1]`, key) so a message can point at the exact spot.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A required file is missing or unreadable.
    case fileUnreadable(path: String, reason: String)
    /// The file is not valid JSON (e.g. truncated).
    case invalidJSON(file: String, reason: String)
    /// A section has a `type` this implementation does not support (e.g. model `Unigram`).
    case unsupportedType(section: String, type: String)
    /// A required key is absent.
    case missingKey(section: String, key: String)
    /// A key is present but holds the wrong kind of value or an impossible one.
    case invalidValue(section: String, key: String, expected: String, actual: String)
    /// A regular expression from the file does not compile.
    case invalidRegex(section: String, pattern: String, reason: String)
    /// A merge names a token that is not in the vocabulary.
    case mergeTokenOutOfVocabulary(index: Int, token: String)

    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason):
            return "cannot read \(path): \(reason)"
        case let .invalidJSON(file, reason):
            return "\(file) is not valid JSON: \(reason)"
        case let .unsupportedType(section, type):
            return "unsupported \(section) type \"\(type)\""
        case let .missingKey(section, key):
            return "\(section): missing key \"\(key)\""
        case let .invalidValue(section, key, expected, actual):
            return "\(section).\(key): expected \(expected), found \(actual)"
        case let .invalidRegex(section, pattern, reason):
            return "\(section): invalid regex \(pattern): \(reason)"
        case let .mergeTokenOutOfVocabulary(index, token):
            return "model.merges[\(index)]: token \"\(token)\" is not in the vocabulary"
        }
    }
}
