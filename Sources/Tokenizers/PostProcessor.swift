import Foundation

/// tokenizer.json `post_processor`: adds special tokens around a single encoded sequence.
/// Pairs of sequences are never encoded by this app, so only the `single` templates are kept.
protocol PostProcessor: Sendable {
    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int]
}

enum PostProcessors {
    static func make(_ json: JSONReader) throws -> any PostProcessor {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            return SequencePostProcessor(steps: try json.readers("processors").map(make))
        case "ByteLevel":
            // Only trims offsets; ids are unchanged.
            return IdentityPostProcessor()
        case "TemplateProcessing":
            return try TemplatePostProcessor(json)
        case "RobertaProcessing", "BertProcessing":
            let cls = try specialPair(json, "cls")
            let sep = try specialPair(json, "sep")
            return TemplatePostProcessor(prefix: [cls], suffix: [sep])
        default:
            throw TokenizerError.unsupportedType(section: json.section, type: type)
        }
    }

    /// `["<s>", 0]` -> 0
    private static func specialPair(_ json: JSONReader, _ key: String) throws -> Int {
        let pair = try json.array(key)
        guard pair.count == 2, pair[0].string != nil, let id = pair[1].int else {
            throw TokenizerError.invalidValue(section: json.section, key: key, expected: "[token, id]",
                                              actual: "\(pair)")
        }
        return id
    }
}

struct IdentityPostProcessor: PostProcessor {
    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] { ids }
}

struct SequencePostProcessor: PostProcessor {
    let steps: [any PostProcessor]
    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        steps.reduce(ids) { $1.process($0, addSpecialTokens: addSpecialTokens) }
    }
}

/// TemplateProcessing's `single` template, e.g. `[{"SpecialToken": {"id": "<|begin_of_text|>"}},
/// {"Sequence": {"id": "A"}}]`, reduced to the ids before and after the sequence.
struct TemplatePostProcessor: PostProcessor {
    let prefix: [Int]
    let suffix: [Int]

    init(prefix: [Int], suffix: [Int]) {
        self.prefix = prefix
        self.suffix = suffix
    }

    init(_ json: JSONReader) throws {
        let specials = try json.optionalReader("special_tokens")
        var prefix: [Int] = []
        var suffix: [Int] = []
        var seenSequence = false
        for (i, item) in try json.array("single").enumerated() {
            let itemSection = "\(json.section).single[\(i)]"
            let entry = try JSONReader(item, section: itemSection)
            if entry.has("Sequence") {
                seenSequence = true
            } else if entry.has("SpecialToken") {
                let name = try entry.reader("SpecialToken").string("id")
                guard let specials, specials.has(name) else {
                    throw TokenizerError.missingKey(section: "\(json.section).special_tokens", key: name)
                }
                let ids = try specials.reader(name).array("ids")
                let intIDs = try ids.map { v -> Int in
                    guard let id = v.int else {
                        throw TokenizerError.invalidValue(section: "\(json.section).special_tokens.\(name)",
                                                          key: "ids", expected: "integers", actual: "\(v)")
                    }
                    return id
                }
                if seenSequence { suffix += intIDs } else { prefix += intIDs }
            } else {
                throw TokenizerError.invalidValue(section: itemSection, key: "", expected: "Sequence or SpecialToken",
                                                  actual: "keys \(entry.object.keys)")
            }
        }
        self.prefix = prefix
        self.suffix = suffix
    }

    func process(_ ids: [Int], addSpecialTokens: Bool) -> [Int] {
        addSpecialTokens ? prefix + ids + suffix : ids
    }
}
