import Foundation
import XCTest
import ModelFormats
@testable import Models
import TestSupport
import Tokenizers

/// `tokenizer.ggml.model = llama` (SentencePiece BPE with scores) against llama.cpp on the same file
/// (Scripts/fixtures/make_gguf_spm_fixture.py): a SentencePiece vocabulary trained on English + Chinese
/// text with byte fallback, two control tokens and one user-defined token, inside a tiny random Llama.
final class GGUFSentencePieceTests: XCTestCase {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var ids_no_bos: [Int]
        var ids_no_special: [Int]
        var decoded: String
        var decoded_no_bos: String
    }

    struct NoPrefixCase: Decodable {
        var text: String
        var ids_no_bos: [Int]
        var decoded_no_bos: String
    }

    struct Detok: Decodable {
        var ids: [Int]
        var decoded: String
    }

    struct Generation: Decodable {
        var text: String
        var ids: [Int]
        var greedy_new_ids: [Int]
        var first_step_logits: [Float]
        var greedy_bytes: [UInt8]
    }

    struct Reference: Decodable {
        var vocab_size: Int
        var tokenize: [Case]
        var detokenize: [Detok]
        var tokenize_no_space_prefix: [NoPrefixCase]
        var generation: Generation
    }

    static let dir = Fixtures.url("gguf-models")
    static let file = dir.appendingPathComponent("spm-llama.gguf")

    private func reference() throws -> Reference {
        let url = Self.dir.appendingPathComponent("spm-reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-models fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    private func tokenizer(parseControlTokens: Bool = true) throws -> Tokenizer {
        try GGUFTokenizer.load(GGUFMetadata(GGUFFile(path: Self.file.path)), parseControlTokens: parseControlTokens).tokenizer
    }

    /// Every string with BOS, without BOS, and with control tokens left as text; decoding of each.
    func testTokenizationMatchesLlamaCpp() throws {
        let ref = try reference()
        XCTAssertGreaterThanOrEqual(ref.tokenize.count, 40)
        let tok = try tokenizer()
        let plain = try tokenizer(parseControlTokens: false)
        XCTAssertEqual(tok.vocabularySize, ref.vocab_size)
        XCTAssertTrue(tok.addBOSToken)
        for c in ref.tokenize {
            let label = c.text.debugDescription
            XCTAssertEqual(tok.encode(c.text, addSpecialTokens: true), c.ids, "\(label) ids")
            XCTAssertEqual(tok.encode(c.text, addSpecialTokens: false), c.ids_no_bos, "\(label) ids without BOS")
            XCTAssertEqual(plain.encode(c.text, addSpecialTokens: true), c.ids_no_special, "\(label) ids, control tokens as text")
            XCTAssertEqual(tok.decode(c.ids), c.decoded, "\(label) decode")
            XCTAssertEqual(tok.decode(c.ids_no_bos), c.decoded_no_bos, "\(label) decode without BOS")
        }
        for d in ref.detokenize {
            XCTAssertEqual(tok.decode(d.ids), d.decoded, "decode \(d.ids)")
        }
        // The fixture exercises what it claims: byte fallback, control and user-defined tokens split out.
        let emoji = try XCTUnwrap(ref.tokenize.first { $0.text == "🦊" })
        XCTAssertEqual(emoji.ids.dropFirst(2).compactMap { tok.token(forID: $0) }, ["<0xF0>", "<0x9F>", "<0xA6>", "<0x8A>"])
        XCTAssertTrue(ref.tokenize.contains { $0.ids != $0.ids_no_special })
    }

    /// `tokenizer.ggml.add_space_prefix = false` (Gemma's setting): no "▁" put before fragments, no
    /// leading space stripped when decoding.
    func testWithoutSpacePrefixMatchesLlamaCpp() throws {
        let ref = try reference()
        let path = Self.dir.appendingPathComponent("spm-no-prefix-vocab.gguf").path
        let tok = try GGUFTokenizer.load(GGUFMetadata(GGUFFile(path: path))).tokenizer
        XCTAssertGreaterThanOrEqual(ref.tokenize_no_space_prefix.count, 40)
        for c in ref.tokenize_no_space_prefix {
            XCTAssertEqual(tok.encode(c.text, addSpecialTokens: false), c.ids_no_bos, "\(c.text.debugDescription) ids")
            XCTAssertEqual(tok.decode(c.ids_no_bos), c.decoded_no_bos, "\(c.text.debugDescription) decode")
        }
        let differ = zip(ref.tokenize, ref.tokenize_no_space_prefix).filter { $0.ids_no_bos != $1.ids_no_bos }
        XCTAssertGreaterThan(differ.count, 20)
    }

    /// A character spelled as four byte tokens is held back until complete, then printed once.
    func testStreamingDetokenizerJoinsByteFallbackTokens() throws {
        let ref = try reference()
        let tok = try tokenizer()
        let c = try XCTUnwrap(ref.tokenize.first { $0.text == "emoji 🦊🦊 mixed👍🏽 ok" })
        var stream = StreamingDetokenizer(tokenizer: tok)
        var chunks: [String] = []
        for id in c.ids_no_bos { chunks.append(stream.append(id)) }
        chunks.append(stream.flush())
        XCTAssertEqual(chunks.joined(), c.decoded_no_bos)
        XCTAssertFalse(chunks.contains { $0.contains("\u{FFFD}") }, "\(chunks)")
        let fox = c.ids_no_bos.firstIndex { tok.token(forID: $0) == "<0xF0>" }!
        XCTAssertEqual(Array(chunks[fox..<(fox + 4)]), ["", "", "", "🦊"])
    }

    /// The tiny model's first-step logits and greedy tokens equal llama.cpp's (F32 weights).
    func testGreedyTokensMatchLlamaCpp() throws {
        let g = try reference().generation
        let model = try LoadedModel(directory: Self.file)
        XCTAssertEqual(model.tokenizer.encode(g.text), g.ids)
        let lm = model.language
        let cache = lm.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: lm.logitCount)
        try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: g.ids, cache: cache, logits: $0.baseAddress!) }
        let scale = max(1, g.first_step_logits.map(abs).max() ?? 1)
        let d = closeness(logits, g.first_step_logits)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-4 * scale, "first-step logits: \(d)")
        var greedy: [Int] = []
        for _ in g.greedy_new_ids {
            let next = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
            greedy.append(next)
            try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [next], cache: cache, logits: $0.baseAddress!) }
        }
        XCTAssertEqual(greedy, g.greedy_new_ids)
        XCTAssertEqual(model.tokenizer.decodeBytes(greedy), g.greedy_bytes)
    }

    /// A SentencePiece vocabulary without scores is refused with the key named, in one line.
    func testMissingScoresIsAClearError() throws {
        _ = try reference()
        let path = Self.dir.appendingPathComponent("spm-no-scores.gguf").path
        XCTAssertThrowsError(try GGUFTokenizer.load(GGUFMetadata(GGUFFile(path: path)))) { error in
            guard case let ModelError.missingConfigKey(p, key) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
            XCTAssertEqual(key, "tokenizer.ggml.scores")
            XCTAssertFalse(String(describing: error).contains("\n"))
        }
    }

    /// Merges are every split of a token into two tokens, best merged score first.
    func testMergePairsFollowScores() {
        let pairs = GGUFSentencePiece.mergePairs(tokens: ["a", "b", "c", "ab", "bc", "abc", "a b"],
                                                 scores: [0, 0, 0, -2, -1, -3, -0.5])
        XCTAssertEqual(pairs.map { "\($0.0)|\($0.1)" }, ["b|c", "a|b", "a|bc", "ab|c"])
    }
}
