/// Errors of the Sampling target. They carry the offending name and value so the edge (ChatApp, squint)
/// can render a precise message.
public enum SamplingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A setting outside its domain: `name` is the settings field, `value` what was given, `expected`
    /// the allowed range in words.
    case invalidSetting(name: String, value: String, expected: String)
    /// A stage name that is neither one of ours nor one of llama.cpp's that we knowingly skip.
    case unknownStage(String)
    /// The same stage listed twice in `order` (it would apply twice, e.g. temperature squared).
    case duplicateStage(SamplerStage)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, expected):
            return "invalid sampler setting \(name) = \(value): expected \(expected)"
        case let .unknownStage(name):
            let known = SamplerStage.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown sampler stage '\(name)': expected one of \(known)"
        case let .duplicateStage(stage):
            return "sampler stage '\(stage.rawValue)' appears more than once in the order"
        }
    }
}
