import Foundation
import XCTest
@testable import Models
import TestSupport

/// GGUF text models written as llama.cpp's converter writes them (Scripts/fixtures/make_gguf_model_fixtures.py)
/// against llama.cpp's own outputs on the same files (llama-cpp-python, F32 KV cache, no flash attention):
/// its tokenization, its greedy tokens and its first-step logits.
///
/// Tolerances, relative to the largest reference logit:
/// - F32 files: 1e-3 (f32 both sides; only summation order differs).
/// - F16 file: 1e-2. llama.cpp's CPU matmul for F16 weights rounds the activations to F16 first
///   (the type's vec_dot_type); Squint multiplies F16 weights by F32 activations.
/// - Q8_0 / Q4_0 files: 5e-2. llama.cpp quantizes the activations to Q8_0 blocks for these dot products,
///   Squint does not, so only the weights' rounding is shared.
/// Greedy tokens must be identical in every case (the fixtures' top-1 margins are recorded in reference.json).
final class GGUFModelTests: XCTestCase {
    struct Case: Decodable {
        var text: String
        var add_special_tokens: Bool
        var ids: [Int]
        var greedy_new_ids: [Int]
        var first_step_logits: [Float]
        var min_top1_margin: Float
    }

    struct FileRef: Decodable {
        var source: String
        var raw: Case
        var chat: Case
    }

    struct Reference: Decodable {
        var files: [String: FileRef]
    }

    static let dir = Fixtures.url("gguf-models")

    private func reference() throws -> Reference {
        let url = Self.dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-models fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    static func tolerance(_ name: String) -> Float {
        if name.contains("-q") { return 5e-2 }
        if name.contains("f16") { return 1e-2 }
        return 1e-3
    }

    private func check(_ model: LoadedModel, _ c: Case, tolerance: Float, label: String) throws {
        XCTAssertEqual(model.tokenizer.encode(c.text, addSpecialTokens: c.add_special_tokens), c.ids, "\(label) ids")
        let lm = model.language
        let cache = lm.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: lm.logitCount)
        XCTAssertEqual(lm.logitCount, c.first_step_logits.count, "\(label) vocabulary")
        try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: c.ids, cache: cache, logits: $0.baseAddress!) }
        let scale = max(1, c.first_step_logits.map(abs).max() ?? 1)
        let d = closeness(logits, c.first_step_logits)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, tolerance * scale, "\(label) first-step logits: \(d)")
        var generated: [Int] = []
        for _ in 0..<c.greedy_new_ids.count {
            let next = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
            generated.append(next)
            try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [next], cache: cache, logits: $0.baseAddress!) }
        }
        XCTAssertEqual(generated, c.greedy_new_ids, "\(label) greedy continuation (llama.cpp margin \(c.min_top1_margin))")
    }

    func testEveryFileMatchesLlamaCpp() throws {
        let ref = try reference()
        XCTAssertGreaterThanOrEqual(ref.files.count, 5)
        for (name, file) in ref.files.sorted(by: { $0.key < $1.key }) {
            let model = try LoadedModel(directory: Self.dir.appendingPathComponent(name))
            try check(model, file.raw, tolerance: Self.tolerance(name), label: "\(name) raw")
            try check(model, file.chat, tolerance: Self.tolerance(name), label: "\(name) chat")
        }
    }

    func testConfigFromMetadata() throws {
        _ = try reference()
        let llama = try LoadedModel(directory: Self.dir.appendingPathComponent("llama-f32.gguf"))
        let lc = llama.language.config
        XCTAssertEqual(llama.modelType, "llama")
        XCTAssertEqual([lc.hiddenSize, lc.layerCount, lc.headCount, lc.kvHeadCount, lc.headDim, lc.intermediateSize],
                       [64, 3, 4, 2, 16, 176])
        XCTAssertFalse(lc.tieWordEmbeddings)
        XCTAssertTrue(lc.rope.interleaved, "llama: Q/K rows permuted by the converter")
        guard case let .frequencyFactors(f) = lc.rope.scaling else { return XCTFail("llama3 scaling: \(lc.rope.scaling)") }
        XCTAssertEqual(f.count, 8)
        XCTAssertEqual(lc.rope.theta, 500000)
        XCTAssertEqual(lc.rmsNormEps, 1e-5, accuracy: 1e-9)
        XCTAssertTrue(llama.tokenizer.addBOSToken)
        XCTAssertNotNil(llama.chatTemplate)
        // Llama 3: eos <|eot_id|> plus <|end_of_text|> and <|eom_id|> by text, as llama.cpp's EOG set.
        XCTAssertTrue(llama.stopTokenIDs.isSuperset(of: [1203, 1210, 1211]), "\(llama.stopTokenIDs)")

        let qwen = try LoadedModel(directory: Self.dir.appendingPathComponent("qwen2-f32.gguf"))
        let qc = qwen.language.config
        XCTAssertTrue(qc.tieWordEmbeddings)
        XCTAssertTrue(qc.qkvBias)
        XCTAssertFalse(qc.rope.interleaved)
        XCTAssertEqual(qc.rope.theta, 1_000_000)
        XCTAssertEqual(qwen.language.logitCount, 1280, "vocabulary padded with [PADn] tokens")
        XCTAssertFalse(qwen.tokenizer.addBOSToken)
        XCTAssertTrue(qwen.stopTokenIDs.contains(1202), "<|im_end|>")
        XCTAssertNil(qwen.vision)
    }

    func testLocatorAcceptsGGUFFiles() throws {
        _ = try reference()
        let path = Self.dir.appendingPathComponent("smollm2-f16.gguf").path
        XCTAssertEqual(try ModelLocator.resolve(path).path, path)
        // Not GGUF: refused as before.
        XCTAssertThrowsError(try ModelLocator.resolve(Self.dir.appendingPathComponent("reference.json").path))
    }

    func testUnsupportedFilesAreClearErrors() throws {
        _ = try reference()
        // An architecture other than qwen2/llama.
        XCTAssertThrowsError(try LoadedModel(directory: Fixtures.url("gguf/metadata.gguf"))) { error in
            guard case let ModelError.unsupportedModelType(_, type, supported) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "squint-test")
            XCTAssertEqual(supported, ["llama", "qwen2"])
        }
        // A SentencePiece-style ("llama") tokenizer.
        XCTAssertThrowsError(try LoadedModel(directory: Self.dir.appendingPathComponent("unsupported-tokenizer.gguf"))) { error in
            guard case let ModelError.invalidConfigValue(_, key, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "tokenizer.ggml.model")
            XCTAssertTrue(reason.contains("'llama'"), reason)
        }
        XCTAssertThrowsError(try GGUFTokenizer.preTokenizer("no-such-pre", path: "x.gguf"))
    }
}
