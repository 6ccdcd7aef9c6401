import Foundation
import ModelFormats

/// `tokenizer.ggml.model = llama`: SentencePiece BPE with per-token scores (Llama 2, Mistral 7B
/// v0.1-0.2, Vicuna/Mistral in LLaVA 1.5/1.6), rebuilt as a tokenizer.json pipeline that behaves as
/// llama.cpp's `llm_tokenizer_spm`:
///
/// - control, user-defined and unknown tokens are split out of the raw text first (llama.cpp's
///   `tokenizer_st_partition` with `parse_special`);
/// - every remaining fragment gets a leading space when `add_space_prefix` is on (llama.cpp prefixes a
///   fragment when the previous one was a token or the text start, which is every raw fragment, since two
///   raw fragments are never adjacent), then spaces become "▁" (`llama_escape_whitespace`);
/// - the whole fragment is one word, merged bigram by bigram, highest score of the merged piece first.
///   llama.cpp merges any two adjacent symbols whose concatenation is a token; that is a BPE whose merge
///   list is every (left, right) split of every token into two tokens, ranked by the merged token's score;
/// - symbols that are no token become their `<0xXX>` byte tokens (byte fallback), else the unknown token.
///
/// Decoding is llama.cpp's `llama_detokenize(remove_special: false, unparse_special: true)`: "▁" is a
/// space, byte tokens are their bytes, and one leading space of the first piece is dropped when
/// `add_space_prefix` is on; a first BOS ("<s>") takes that removal, so "<s> Hello" keeps its space.
///
/// Known difference: llama.cpp breaks ties between bigrams of equal score by position (leftmost), a BPE
/// merge list by rank. Pieces of real SentencePiece vocabularies have distinct scores (control, byte and
/// user-defined tokens share 0 but are not built from merges), so this only matters for hand-made vocabs.
/// Likewise a character that is no token itself is spelled in bytes at once here, where llama.cpp could
/// still merge it with a neighbour; SentencePiece keeps every character of its pieces as a piece. And a
/// control or user-defined token holding "▁" decodes with a space here, verbatim in llama.cpp.
enum GGUFSentencePiece {
    static let unknown = 2

    struct Pipeline {
        var json: [String: Any]
        var mergePairs: [(String, String)]
        var addedTokenTypes: Set<Int>
        var defaultAddBOS: Bool
    }

    static func pipeline(_ m: GGUFMetadata, tokens: [String], unk: Int?) throws -> Pipeline {
        guard let scores = try m.optionalDoubles("tokenizer.ggml.scores") else {
            throw ModelError.missingConfigKey(path: m.path, key: "tokenizer.ggml.scores")
        }
        guard scores.count == tokens.count else {
            throw ModelError.invalidConfigValue(path: m.path, key: "tokenizer.ggml.scores",
                                                reason: "\(scores.count) scores for \(tokens.count) tokens")
        }
        // llama.cpp's default for SPM vocabularies when the key is absent.
        let addSpacePrefix = try m.optionalBool("tokenizer.ggml.add_space_prefix") ?? true

        var normalizers: [[String: Any]] = []
        if addSpacePrefix { normalizers.append(["type": "Prepend", "prepend": "▁"]) }
        normalizers.append(["type": "Replace", "pattern": ["String": " "], "content": "▁"])
        var decoders: [[String: Any]] = [
            ["type": "Replace", "pattern": ["String": "▁"], "content": " "],
            ["type": "ByteFallback"],
            ["type": "Fuse"],
        ]
        if addSpacePrefix { decoders.append(["type": "Strip", "content": " ", "start": 1, "stop": 0]) }
        var model: [String: Any] = ["type": "BPE", "ignore_merges": false, "byte_fallback": true, "fuse_unk": false]
        if let unk { model["unk_token"] = tokens[unk] }
        let json: [String: Any] = [
            "version": "1.0",
            "normalizer": ["type": "Sequence", "normalizers": normalizers],
            "decoder": ["type": "Sequence", "decoders": decoders],
            "model": model,
        ]
        return Pipeline(json: json, mergePairs: mergePairs(tokens: tokens, scores: scores),
                        addedTokenTypes: [GGUFTokenizer.control, GGUFTokenizer.userDefined, unknown],
                        defaultAddBOS: true)
    }

    /// Every split of a token into two tokens, best merged score first. A text that appears twice maps
    /// to its last id (llama.cpp's `token_to_id`), so only that id's score counts.
    static func mergePairs(tokens: [String], scores: [Double]) -> [(String, String)] {
        var lastID: [String: Int] = [:]
        lastID.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { lastID[t] = i }
        var candidates: [(score: Float, order: Int, left: String, right: String)] = []
        for (id, t) in tokens.enumerated() where lastID[t] == id {
            let scalars = t.unicodeScalars
            guard scalars.count > 1 else { continue }
            var cut = scalars.index(after: scalars.startIndex)
            while cut < scalars.endIndex {
                let left = String(scalars[..<cut]), right = String(scalars[cut...])
                if lastID[left] != nil && lastID[right] != nil {
                    // Scores are f32 in the file and compared as f32 by llama.cpp.
                    candidates.append((Float(scores[id]), candidates.count, left, right))
                }
                cut = scalars.index(after: cut)
            }
        }
        // Stable order within a score: by id, then by split position (see the type's note on ties).
        candidates.sort { a, b in a.score != b.score ? a.score > b.score : a.order < b.order }
        return candidates.map { ($0.left, $0.right) }
    }
}
