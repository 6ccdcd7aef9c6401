import Foundation

/// tokenizer.json `pre_tokenizer`: cuts each piece of normalized text into words for the model.
/// `firstAtStart` says whether `pieces[0]` begins at offset 0 of the input (Metaspace's "first" scheme).
protocol PreTokenizer: Sendable {
    func split(_ pieces: [String], firstAtStart: Bool) -> [String]
}

enum PreTokenizers {
    /// GPT-2's split regex, used by ByteLevel when `use_regex` is true (tokenizers `byte_level.rs`).
    static let gpt2Pattern =
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    static func make(_ json: JSONReader) throws -> any PreTokenizer {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            return SequencePreTokenizer(steps: try json.readers("pretokenizers").map(make))
        case "Split":
            let behavior = try behavior(json, "behavior", default: nil)
            return SplitPreTokenizer(regex: try json.pattern("pattern").compile(section: json.section),
                                     behavior: behavior, invert: try json.bool("invert", default: false))
        case "ByteLevel":
            let useRegex = try json.bool("use_regex", default: true)
            return ByteLevelPreTokenizer(
                addPrefixSpace: try json.bool("add_prefix_space", default: true),
                regex: useRegex ? try CompiledRegex(pattern: gpt2Pattern, section: json.section) : nil)
        case "Digits":
            return DigitsPreTokenizer(individual: try json.bool("individual_digits", default: false))
        case "Whitespace":
            return SplitPreTokenizer(regex: try CompiledRegex(pattern: #"\w+|[^\w\s]+"#, section: json.section),
                                     behavior: .removed, invert: true)
        case "WhitespaceSplit":
            return PredicatePreTokenizer(behavior: .removed) { $0.properties.isWhitespace }
        case "Punctuation":
            return PredicatePreTokenizer(behavior: try behavior(json, "behavior", default: .isolated), isMatch: isPunctuation)
        case "BertPreTokenizer":
            return SequencePreTokenizer(steps: [
                PredicatePreTokenizer(behavior: .removed) { $0.properties.isWhitespace },
                PredicatePreTokenizer(behavior: .isolated, isMatch: isPunctuation),
            ])
        case "Metaspace":
            return try MetaspacePreTokenizer(json)
        default:
            throw TokenizerError.unsupportedType(section: json.section, type: type)
        }
    }

    static func behavior(_ json: JSONReader, _ key: String, default value: SplitBehavior?) throws -> SplitBehavior {
        guard let raw = try json.optionalString(key) else {
            if let value { return value }
            throw TokenizerError.missingKey(section: json.section, key: key)
        }
        guard let b = SplitBehavior(rawValue: raw) else {
            throw TokenizerError.invalidValue(section: json.section, key: key,
                                              expected: "Removed|Isolated|MergedWithPrevious|MergedWithNext|Contiguous",
                                              actual: raw)
        }
        return b
    }

    /// tokenizers `is_punc`: ASCII punctuation or any Unicode P* category.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII, let c = Optional(UInt8(s.value)),
           (0x21...0x2F).contains(c) || (0x3A...0x40).contains(c) || (0x5B...0x60).contains(c) || (0x7B...0x7E).contains(c) {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}

struct SequencePreTokenizer: PreTokenizer {
    let steps: [any PreTokenizer]
    func split(_ pieces: [String], firstAtStart: Bool) -> [String] {
        steps.reduce(pieces) { $1.split($0, firstAtStart: firstAtStart) }
    }
}

struct SplitPreTokenizer: PreTokenizer {
    let regex: CompiledRegex
    let behavior: SplitBehavior
    let invert: Bool

    func split(_ pieces: [String], firstAtStart: Bool) -> [String] {
        var out: [String] = []
        for piece in pieces {
            var segments = regex.segments(Substring(piece))
            if invert { segments = segments.map { ($0.range, !$0.isMatch) } }
            for r in behavior.apply(segments) { out.append(String(piece[r])) }
        }
        return out
    }
}

/// A pre-tokenizer whose delimiters are single scalars chosen by a predicate.
struct PredicatePreTokenizer: PreTokenizer {
    let behavior: SplitBehavior
    let isMatch: @Sendable (Unicode.Scalar) -> Bool

    func split(_ pieces: [String], firstAtStart: Bool) -> [String] {
        var out: [String] = []
        for piece in pieces {
            for r in behavior.apply(scalarSegments(Substring(piece), isMatch)) { out.append(String(piece[r])) }
        }
        return out
    }
}

/// Digits: `individual_digits` isolates every digit, otherwise runs of digits stay together.
/// A digit is Rust's `char::is_numeric`: general category Nd, Nl or No.
struct DigitsPreTokenizer: PreTokenizer {
    let individual: Bool

    static func isNumeric(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return (0x30...0x39).contains(s.value) }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    func split(_ pieces: [String], firstAtStart: Bool) -> [String] {
        let behavior: SplitBehavior = individual ? .isolated : .contiguous
        var out: [String] = []
        for piece in pieces {
            for r in behavior.apply(scalarSegments(Substring(piece), Self.isNumeric)) { out.append(String(piece[r])) }
        }
        return out
    }
}

/// ByteLevel: optional prefix space, optional GPT-2 regex split, then every byte mapped to its stand-in
/// character. As in tokenizers, the prefix space is added to every piece between added tokens.
struct ByteLevelPreTokenizer: PreTokenizer {
    let addPrefixSpace: Bool
    let regex: CompiledRegex?

    func split(_ pieces: [String], firstAtStart: Bool) -> [String] {
        var out: [String] = []
        for var piece in pieces {
            if addPrefixSpace && piece.utf8.first != 0x20 { piece = " " + piece }
            if let regex {
                for r in SplitBehavior.isolated.apply(regex.segments(Substring(piece))) {
                    out.append(ByteLevel.encode(piece[r]))
                }
            } else {
                out.append(ByteLevel.encode(piece))
            }
        }
        return out
    }
}

/// Metaspace (SentencePiece style): spaces become `replacement` (▁), a ▁ is prepended per
/// `prepend_scheme`, and with `split` each ▁ starts a new word.
struct MetaspacePreTokenizer: PreTokenizer {
    enum Scheme: String, Sendable { case always, first, never }
    let replacement: String
    let scheme: Scheme
    let splitWords: Bool

    init(_ json: JSONReader) throws {
        replacement = try json.optionalString("replacement") ?? "\u{2581}"
        guard replacement.unicodeScalars.count == 1 else {
            throw TokenizerError.invalidValue(section: json.section, key: "replacement",
                                              expected: "one character", actual: replacement)
        }
        if let raw = try json.optionalString("prepend_scheme") {
            guard let s = Scheme(rawValue: raw) else {
                throw TokenizerError.invalidValue(section: json.section, key: "prepend_scheme",
                                                  expected: "always|first|never", actual: raw)
            }
            scheme = s
        } else {
            scheme = try json.bool("add_prefix_space", default: true) ? .always : .never
        }
        splitWords = try json.bool("split", default: true)
    }

    func split(_ pieces: [String], firstAtStart: Bool) -> [String] {
        var out: [String] = []
        let mark = replacement.unicodeScalars.first ?? "\u{2581}"
        for (i, piece) in pieces.enumerated() {
            var text = replaceLiteral(piece, " ", replacement)
            let prepend: Bool
            switch scheme {
            case .always: prepend = true
            case .first: prepend = i == 0 && firstAtStart
            case .never: prepend = false
            }
            if prepend && !text.hasPrefix(replacement) { text = replacement + text }
            if splitWords {
                for r in SplitBehavior.mergedWithNext.apply(scalarSegments(Substring(text)) { $0 == mark }) {
                    out.append(String(text[r]))
                }
            } else {
                out.append(text)
            }
        }
        return out
    }
}
