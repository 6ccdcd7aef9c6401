import Foundation

/// A Hugging Face `tokenizer.json` tokenizer: added tokens -> normalizer -> pre-tokenizer -> BPE model ->
/// post-processor, and back through the decoder. Immutable after loading (the word cache locks), so one
/// instance can be shared across tasks.
///
/// The pipeline is tokenizer.json exactly as the `tokenizers` library (and transformers 4, llama.cpp) runs
/// it. transformers 5 differs for classes with their own `__init__`: `tokenizer_class: GPT2Tokenizer`
/// (SmolLM2) is rebuilt with a bare ByteLevel pre-tokenizer, dropping the Digits step, so text with a
/// whitespace run before digits ("  12") can tokenize differently there. We keep the trained pipeline.
public final class Tokenizer: Sendable {
    let addedTokens: [AddedToken]
    /// Added tokens matched on the raw input (`normalized: false`).
    let rawMatcher: AddedTokenMatcher
    /// Added tokens matched after normalization (`normalized: true`).
    let normalizedMatcher: AddedTokenMatcher
    let addedByID: [Int: AddedToken]
    let addedByContent: [ByteKey: Int]
    let specialIDs: Set<Int>
    let normalizer: (any Normalizer)?
    let preTokenizer: (any PreTokenizer)?
    let model: BPEModel
    let postProcessor: (any PostProcessor)?
    let decoder: (any Decoder)?

    public let bosToken: String?
    public let eosToken: String?
    public let padToken: String?
    public let unkToken: String?
    /// Whether `encode(_:addSpecialTokens: true)` starts with the BOS token.
    public let addBOSToken: Bool
    /// tokenizer_config.json `chat_template` (a string, or the "default" entry of a list of {name, template}).
    public let tokenizerConfigChatTemplate: String?
    /// Every id that is an added token with `special: true`.
    public var specialTokenIDs: Set<Int> { specialIDs }

    /// Loads `tokenizer.json`, `tokenizer_config.json` and, when present, `special_tokens_map.json`.
    public convenience init(directory: URL) throws {
        func read(_ name: String, required: Bool) throws -> Data? {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                if required { throw TokenizerError.fileUnreadable(path: url.path, reason: "no such file") }
                return nil
            }
            do { return try Data(contentsOf: url) } catch {
                throw TokenizerError.fileUnreadable(path: url.path, reason: String(describing: error))
            }
        }
        guard let tokenizerJSON = try read("tokenizer.json", required: true) else {
            throw TokenizerError.fileUnreadable(path: directory.appendingPathComponent("tokenizer.json").path,
                                                reason: "no such file")
        }
        try self.init(tokenizerJSON: tokenizerJSON,
                      tokenizerConfigJSON: try read("tokenizer_config.json", required: false),
                      specialTokensMapJSON: try read("special_tokens_map.json", required: false))
    }

    public init(tokenizerJSON: Data, tokenizerConfigJSON: Data?, specialTokensMapJSON: Data? = nil) throws {
        let root = try JSONReader.parse(tokenizerJSON, file: "tokenizer.json")

        // Model first: added tokens and the post-processor refer to its vocabulary.
        let modelJSON = try root.reader("model")
        let modelType = try modelJSON.optionalString("type") ?? (modelJSON.has("merges") ? "BPE" : "")
        guard modelType == "BPE" else {
            throw TokenizerError.unsupportedType(section: modelJSON.section, type: modelType.isEmpty ? "(none)" : modelType)
        }
        model = try BPEModel(modelJSON)
        normalizer = try root.optionalReader("normalizer").map(Normalizers.make)
        preTokenizer = try root.optionalReader("pre_tokenizer").map(PreTokenizers.make)
        postProcessor = try root.optionalReader("post_processor").map(PostProcessors.make)
        decoder = try root.optionalReader("decoder").map(Decoders.make)

        let added = root.has("added_tokens") ? try root.readers("added_tokens").map(AddedToken.init) : []
        addedTokens = added
        var byID: [Int: AddedToken] = [:]
        var byContent: [ByteKey: Int] = [:]
        for t in added {
            byID[t.id] = t
            byContent[ByteKey(t.content)] = t.id
        }
        addedByID = byID
        addedByContent = byContent
        specialIDs = Set(added.filter(\.special).map(\.id))
        let config = try tokenizerConfigJSON.map { try JSONReader.parse($0, file: "tokenizer_config.json") }
        let splitSpecial = try config?.bool("split_special_tokens", default: false) ?? false
        rawMatcher = AddedTokenMatcher(added.filter { !$0.normalized }.map { ($0, $0.content) },
                                       splitSpecialTokens: splitSpecial)
        let normalizer = self.normalizer
        normalizedMatcher = AddedTokenMatcher(added.filter(\.normalized).map { t in
            (t, normalizer?.normalize(t.content) ?? t.content)
        }, splitSpecialTokens: splitSpecial)

        // Special tokens: tokenizer_config.json wins, special_tokens_map.json fills gaps (transformers order).
        let specialMap = try specialTokensMapJSON.map { try JSONReader.parse($0, file: "special_tokens_map.json") }
        func specialToken(_ key: String) throws -> String? {
            if let config, let v = try Tokenizer.tokenString(config, key) { return v }
            if let specialMap, let v = try Tokenizer.tokenString(specialMap, key) { return v }
            return nil
        }
        bosToken = try specialToken("bos_token")
        eosToken = try specialToken("eos_token")
        padToken = try specialToken("pad_token")
        unkToken = try specialToken("unk_token") ?? model.unkToken
        tokenizerConfigChatTemplate = try config.flatMap { try Tokenizer.chatTemplate(in: $0) }

        // What the pipeline really adds decides addBOSToken. The config's add_bos_token/add_eos_token are
        // not applied: transformers 5 (TokenizersBackend) ignores them too and keeps tokenizer.json's
        // post-processor (checked with add_bos_token true/false and a null post_processor).
        let emptyEncoding = postProcessor?.process([], addSpecialTokens: true) ?? []
        let bpe = model
        let bosID = bosToken.flatMap { t in byContent[ByteKey(t)] ?? bpe.id(for: t) }
        addBOSToken = bosID != nil && emptyEncoding.first == bosID
    }

    // MARK: - Vocabulary

    /// One more than the largest id of the vocabulary and the added tokens.
    public var vocabularySize: Int {
        max(model.vocab.count, (addedByID.keys.max() ?? -1) + 1)
    }

    public func id(forToken token: String) -> Int? {
        addedByContent[ByteKey(token)] ?? model.id(for: token)
    }

    public func token(forID id: Int) -> String? {
        addedByID[id]?.content ?? model.token(for: id)
    }

    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }

    public var bosTokenID: Int? { bosToken.flatMap { id(forToken: $0) } }
    public var eosTokenID: Int? { eosToken.flatMap { id(forToken: $0) } }
    public var padTokenID: Int? { padToken.flatMap { id(forToken: $0) } }
    public var unkTokenID: Int? { unkToken.flatMap { id(forToken: $0) } }

    // MARK: - Encoding

    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var first = true
        for segment in rawMatcher.split(Substring(text)) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                let atStart = first && raw.startIndex == text.startIndex
                let normalized = normalizer?.normalize(String(raw)) ?? String(raw)
                for sub in normalizedMatcher.split(Substring(normalized)) {
                    switch sub {
                    case .token(let id):
                        ids.append(id)
                    case .text(let piece):
                        let pieceAtStart = atStart && piece.startIndex == normalized.startIndex
                        let words = preTokenizer?.split([String(piece)], firstAtStart: pieceAtStart) ?? [String(piece)]
                        for word in words { model.tokenize(word, into: &ids) }
                    }
                }
            }
            first = false
        }
        return postProcessor?.process(ids, addSpecialTokens: addSpecialTokens) ?? ids
    }

    // MARK: - Decoding

    /// The token strings tokenizers would hand to its decoder: unknown ids are dropped, special added
    /// tokens too when asked.
    private func tokenPieces(_ ids: [Int], skipSpecialTokens: Bool) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(ids.count)
        for id in ids {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            guard let t = token(forID: id) else { continue }
            pieces.append(Array(t.utf8))
        }
        return pieces
    }

    private func runDecoder(_ pieces: [[UInt8]], exact: Bool) -> [UInt8] {
        guard let decoder else {
            // No decoder: tokens joined by spaces.
            return Array(pieces.map { UTF8Util.lossy($0) }.joined(separator: " ").utf8)
        }
        return decoder.decode(pieces, exact: exact).flatMap { $0 }
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        UTF8Util.lossy(runDecoder(tokenPieces(ids, skipSpecialTokens: skipSpecialTokens), exact: true))
    }

    /// The raw bytes the ids stand for, before any invalid UTF-8 is replaced (a multi-byte character can
    /// be split across tokens, which is what streaming needs to see).
    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false) -> [UInt8] {
        runDecoder(tokenPieces(ids, skipSpecialTokens: skipSpecialTokens), exact: false)
    }
}
