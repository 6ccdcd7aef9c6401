import Foundation
import XCTest
@testable import Models
import TestSupport

/// The tiny random checkpoints written by Scripts/fixtures with transformers, and transformers' own
/// outputs on them. Tolerance: logits agree to 1e-3 relative to the largest reference logit (the
/// fixtures' logits are deliberately peaked, up to ~100, and f32 summation order differs from torch's).
final class ReferenceModelTests: XCTestCase {
    static let modelNames = ["qwen2-v4", "qwen2-v5", "llama-v4", "smollm2-v5"]

    struct Case: Decodable {
        var ids: [Int]
        var first_step_logits: [Float]
        var greedy_new_ids: [Int]
        var step_logits_file: String?
    }

    struct Reference: Decodable {
        var raw: Case
        var chat: Case
    }

    private func load(_ name: String) throws -> (LoadedModel, Reference, URL) {
        let dir = Fixtures.url("models/\(name)")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir.path), "fixture \(name) missing")
        let model = try LoadedModel(directory: dir)
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("reference.json")))
        return (model, ref, dir)
    }

    /// Runs the prompt, checks the first-step logits, then greedy decoding with every step's logits.
    private func check(_ model: LoadedModel, _ c: Case, dir: URL, label: String) throws {
        let lm = model.language
        let cache = lm.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: lm.logitCount)
        try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: c.ids, cache: cache, logits: $0.baseAddress!) }
        let scale = max(1, c.first_step_logits.map(abs).max() ?? 1)
        let first = closeness(logits, c.first_step_logits)
        XCTAssertLessThanOrEqual(first.maxAbsDiff, 1e-3 * scale, "\(label) first-step logits: \(first)")

        let steps = try c.step_logits_file.map { try NPYArray(url: dir.appendingPathComponent($0)) }
        var generated: [Int] = []
        for step in 0..<c.greedy_new_ids.count {
            if let steps, step < steps.shape[0] {
                let d = closeness(logits, steps.row(step))
                XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * scale, "\(label) step \(step) logits: \(d)")
            }
            let next = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
            generated.append(next)
            try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [next], cache: cache, logits: $0.baseAddress!) }
        }
        XCTAssertEqual(generated, c.greedy_new_ids, "\(label) greedy continuation")
    }

    func testRawPromptsMatchTransformers() throws {
        for name in Self.modelNames {
            let (model, ref, dir) = try load(name)
            XCTAssertEqual(model.tokenizer.encode(try rawText(dir), addSpecialTokens: true), ref.raw.ids, "\(name) raw ids")
            try check(model, ref.raw, dir: dir, label: "\(name) raw")
        }
    }

    func testChatPromptsMatchTransformers() throws {
        for name in Self.modelNames {
            let (model, ref, dir) = try load(name)
            try check(model, ref.chat, dir: dir, label: "\(name) chat")
        }
    }

    private func rawText(_ dir: URL) throws -> String {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as! [String: Any]
        return (json["raw"] as! [String: Any])["text"] as! String
    }

    func testChunkedPrefillEqualsOnePass() throws {
        let (model, ref, _) = try load("qwen2-v4")
        let lm = model.language as! DecoderModel
        let ids = ref.chat.ids
        var a = [Float](repeating: 0, count: lm.logitCount), b = a
        try a.withUnsafeMutableBufferPointer { try lm.forward(tokens: ids, cache: lm.makeCache(capacity: 128), logits: $0.baseAddress!) }
        // Token by token through the cache must give the same last logits as one pass.
        let cache = lm.makeCache(capacity: 128)
        for t in ids { try b.withUnsafeMutableBufferPointer { try lm.forward(tokens: [t], cache: cache, logits: $0.baseAddress!) } }
        let d = closeness(b, a)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * max(1, a.map(abs).max()!), "\(d)")
        XCTAssertEqual(cache.count, ids.count)
        XCTAssertEqual(cache.sharedPrefix(with: ids + [5]), ids.count)
    }

    /// The MLP runs in row blocks of `mlpRowBlock` rows within a pass (to keep its scratch small): with
    /// blocks of 16 rows and prefill chunks of 32 tokens, so that both the 35- and the 78-token prompts
    /// span several blocks, partial last blocks included, every family still matches transformers'
    /// logits and greedy continuation.
    func testMLPInRowBlocksMatchesTransformers() throws {
        for name in Self.modelNames {
            let (model, ref, dir) = try load(name)
            let lm = try XCTUnwrap(model.language as? DecoderModel, name)
            lm.mlpRowBlock = 16
            lm.maxChunk = 32
            try check(model, ref.raw, dir: dir, label: "\(name) raw, 16-row MLP blocks")
            try check(model, ref.chat, dir: dir, label: "\(name) chat, 16-row MLP blocks")
        }
    }
}

extension ReferenceModelTests {
    /// A batched decode step equals the same steps taken one sequence at a time (only the summation
    /// order of the batched matmul differs).
    func testBatchedStepEqualsSingleSteps() throws {
        let (model, ref, _) = try load("qwen2-v5")
        let lm = model.language
        let prompts = [ref.chat.ids, Array(ref.raw.ids.prefix(9)), Array(ref.chat.ids.prefix(20))]
        var single: [[Float]] = []
        var caches: [KVCache] = []
        var scratch = [Float](repeating: 0, count: lm.logitCount)
        for (i, p) in prompts.enumerated() {
            let c = lm.makeCache(capacity: 128)
            try scratch.withUnsafeMutableBufferPointer { try lm.forward(tokens: p, cache: c, logits: $0.baseAddress!) }
            caches.append(c)
            let alone = lm.makeCache(capacity: 128)
            try scratch.withUnsafeMutableBufferPointer { try lm.forward(tokens: p + [7 + i], cache: alone, logits: $0.baseAddress!) }
            single.append(scratch)
        }
        var batch = [Float](repeating: 0, count: prompts.count * lm.logitCount)
        try batch.withUnsafeMutableBufferPointer {
            try lm.forwardBatch(tokens: [7, 8, 9], caches: caches, logits: $0.baseAddress!)
        }
        for j in 0..<prompts.count {
            let row = Array(batch[(j * lm.logitCount)..<((j + 1) * lm.logitCount)])
            let d = closeness(row, single[j])
            XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-4 * max(1, single[j].map(abs).max()!), "sequence \(j): \(d)")
            XCTAssertEqual(caches[j].count, prompts[j].count + 1)
        }
    }
}
