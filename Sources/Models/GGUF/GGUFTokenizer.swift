import Foundation
import ModelFormats
import Tokenizers

/// The tokenizer embedded in a GGUF file (`tokenizer.ggml.*`), rebuilt as the `tokenizer.json` +
/// `tokenizer_config.json` pair the Hugging Face pipeline reads, so that it behaves as llama.cpp's
/// `llm_tokenizer_bpe` does: control and user-defined tokens matched as added tokens, llama.cpp's
/// pre-tokenizer regexes (each splits the pieces of the previous one, keeping matches and gaps, which is
/// `Split` with `Isolated`), byte-level mapping, then BPE with the file's merges. SentencePiece
/// vocabularies (`tokenizer.ggml.model = llama`) are built by `GGUFSentencePiece`.
enum GGUFTokenizer {
    /// llama.cpp's `llama_token_type` values in `tokenizer.ggml.token_type`.
    static let control = 3, userDefined = 4

    /// Token texts llama.cpp treats as end of generation besides the eos/eot/eom ids (llama-vocab.cpp).
    static let endOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
        "<|end_of_text|>",
    ]

    struct PreTokenizer {
        var regexes: [String]
        var ignoreMerges = false
        var addBOS = false
    }

    private static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#

    /// `tokenizer.ggml.pre` -> llama.cpp's regexes and defaults (llama-vocab.cpp, `llm_tokenizer_bpe`
    /// and `llama_vocab::impl::load`). The case-insensitive contraction group is written as in the
    /// models' own tokenizer.json; llama.cpp spells it out (`'[sS]|...`) because its engine lacks `(?i:`.
    static func preTokenizer(_ name: String?, path: String) throws -> PreTokenizer {
        switch name ?? "default" {
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
            return PreTokenizer(regexes: [
                #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ], ignoreMerges: true, addBOS: true)
        case "qwen2", "deepseek-r1-qwen", "stablelm2":
            return PreTokenizer(regexes: [
                #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ])
        case "smollm", "refact", "codeshell", "command-r":
            return PreTokenizer(regexes: [#"\p{N}"#, gpt2])
        case "gpt-2", "phi-2", "mpt", "olmo", "roberta-bpe":
            return PreTokenizer(regexes: [gpt2])
        case "default":
            return PreTokenizer(regexes: [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2, #"\p{N}+"#, "[0-9][0-9][0-9]"])
        case let other:
            throw ModelError.invalidConfigValue(path: path, key: "tokenizer.ggml.pre",
                                                reason: "pre-tokenizer '\(other)' is not supported (supported: llama-bpe/llama3, qwen2, smollm, gpt-2, default)")
        }
    }

    struct Built {
        var tokenizer: Tokenizer
        var chatTemplate: String?
        /// eos/eot/eom ids and the end-of-generation tokens llama.cpp recognises by text.
        var stopTokenIDs: Set<Int>
    }

    /// `parseControlTokens: false` leaves control and unknown token texts in the input as plain text
    /// (llama.cpp's `tokenize(..., parse_special: false)`); user-defined tokens are split out either way.
    static func load(_ m: GGUFMetadata, parseControlTokens: Bool = true) throws -> Built {
        let model = try m.optionalString("tokenizer.ggml.model") ?? "(none)"
        guard model == "gpt2" || model == "llama" else {
            throw ModelError.invalidConfigValue(path: m.path, key: "tokenizer.ggml.model",
                                                reason: "tokenizer model '\(model)' is not supported (only 'gpt2', byte-level BPE, and 'llama', SentencePiece BPE)")
        }
        guard let tokens = try m.optionalStrings("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw ModelError.missingConfigKey(path: m.path, key: "tokenizer.ggml.tokens")
        }
        let types = try m.optionalInts("tokenizer.ggml.token_type") ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw ModelError.invalidConfigValue(path: m.path, key: "tokenizer.ggml.token_type",
                                                reason: "\(types.count) entries for \(tokens.count) tokens")
        }

        func tokenID(_ key: String) throws -> Int? {
            guard let id = try m.optionalInt("tokenizer.ggml.\(key)") else { return nil }
            guard id >= 0 && id < tokens.count else {
                throw ModelError.invalidConfigValue(path: m.path, key: "tokenizer.ggml.\(key)",
                                                    reason: "id \(id) is outside the vocabulary (\(tokens.count))")
            }
            return id
        }
        let bos = try tokenID("bos_token_id"), eos = try tokenID("eos_token_id")

        var json: [String: Any]
        var merges: [String] = [], mergePairs: [(String, String)] = []
        var addedTypes: Set<Int> = [control, userDefined]
        let defaultAddBOS: Bool
        if model == "llama" {
            let spm = try GGUFSentencePiece.pipeline(m, tokens: tokens, unk: try tokenID("unknown_token_id"))
            json = spm.json
            mergePairs = spm.mergePairs
            addedTypes = spm.addedTokenTypes
            defaultAddBOS = spm.defaultAddBOS
        } else {
            merges = try m.optionalStrings("tokenizer.ggml.merges") ?? []
            let pre = try preTokenizer(try m.optionalString("tokenizer.ggml.pre"), path: m.path)
            var steps: [[String: Any]] = pre.regexes.map {
                ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false]
            }
            steps.append(["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false])
            json = [
                "version": "1.0",
                "pre_tokenizer": ["type": "Sequence", "pretokenizers": steps],
                "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
                "model": ["type": "BPE", "ignore_merges": pre.ignoreMerges, "byte_fallback": false, "fuse_unk": false],
            ]
            defaultAddBOS = pre.addBOS
        }
        if !parseControlTokens { addedTypes = addedTypes.intersection([userDefined]) }
        let addBOS = try m.optionalBool("tokenizer.ggml.add_bos_token") ?? defaultAddBOS
        let addEOS = try m.optionalBool("tokenizer.ggml.add_eos_token") ?? false

        var added: [[String: Any]] = []
        for (i, t) in tokens.enumerated() where i < types.count && addedTypes.contains(types[i]) {
            added.append(["id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": false, "special": types[i] != userDefined])
        }
        json["added_tokens"] = added
        var single: [[String: Any]] = [["Sequence": ["id": "A", "type_id": 0]]]
        var specials: [String: Any] = [:]
        if addBOS, let bos {
            single.insert(["SpecialToken": ["id": tokens[bos], "type_id": 0]], at: 0)
            specials[tokens[bos]] = ["id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]]
        }
        if addEOS, let eos {
            single.append(["SpecialToken": ["id": tokens[eos], "type_id": 0]])
            specials[tokens[eos]] = ["id": tokens[eos], "ids": [eos], "tokens": [tokens[eos]]]
        }
        json["post_processor"] = ["type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials]

        var config: [String: Any] = [:]
        if let bos { config["bos_token"] = tokens[bos] }
        if let eos { config["eos_token"] = tokens[eos] }
        if let pad = try tokenID("padding_token_id") { config["pad_token"] = tokens[pad] }

        let tokenizer: Tokenizer
        do {
            tokenizer = try Tokenizer(tokenizerJSON: try encodeJSON(json, vocab: tokens, merges: merges, mergePairs: mergePairs),
                                      tokenizerConfigJSON: try JSONSerialization.data(withJSONObject: config))
        } catch let error as TokenizerError {
            throw ModelError.cannotRead(path: m.path, reason: "embedded tokenizer: \(error)")
        }

        var stops = Set<Int>()
        for key in ["eos_token_id", "eot_token_id", "eom_token_id"] { if let id = try tokenID(key) { stops.insert(id) } }
        for (i, t) in tokens.enumerated() where endOfGenerationTexts.contains(t) { stops.insert(i) }
        return Built(tokenizer: tokenizer, chatTemplate: try m.optionalString("tokenizer.chat_template"),
                     stopTokenIDs: stops)
    }

    /// `json` serialised with `model.vocab` and `model.merges` added by hand: JSONSerialization takes
    /// over a second for a 150k-token vocabulary, this loop a few milliseconds. The vocabulary is written
    /// in id order, so a token text that appears twice maps to its last id, as in llama.cpp's token_to_id.
    /// `mergePairs` are written as `[left, right]` after `merges` (SentencePiece pieces may hold spaces).
    static func encodeJSON(_ json: [String: Any], vocab tokens: [String], merges: [String],
                           mergePairs: [(String, String)] = []) throws -> Data {
        var rest = json
        var model = rest.removeValue(forKey: "model") as? [String: Any] ?? [:]
        var out = [UInt8]()
        out.reserveCapacity(tokens.count * 24 + merges.count * 16 + 4096)
        func string(_ s: String) {
            out.append(0x22)
            for b in s.utf8 {
                switch b {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
                default: out.append(b)
                }
            }
            out.append(0x22)
        }
        out += Array("{\"model\":{\"vocab\":{".utf8)
        for (i, t) in tokens.enumerated() {
            if i > 0 { out.append(0x2C) }
            string(t)
            out += Array(":\(i)".utf8)
        }
        out += Array("},\"merges\":[".utf8)
        for (i, m) in merges.enumerated() {
            if i > 0 { out.append(0x2C) }
            string(m)
        }
        for (i, (left, right)) in mergePairs.enumerated() {
            if i > 0 || !merges.isEmpty { out.append(0x2C) }
            out.append(0x5B)
            string(left)
            out.append(0x2C)
            string(right)
            out.append(0x5D)
        }
        out.append(0x5D)
        model["vocab"] = nil
        model["merges"] = nil
        for (k, v) in model {
            out.append(0x2C)
            string(k)
            out.append(0x3A)
            out += try JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed])
        }
        out.append(0x7D)
        for (k, v) in rest {
            out.append(0x2C)
            string(k)
            out.append(0x3A)
            out += try JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed])
        }
        out.append(0x7D)
        return Data(out)
    }
}
