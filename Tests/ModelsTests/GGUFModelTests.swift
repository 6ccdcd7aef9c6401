import Foundation
import XCTest
import ModelFormats
@testable import Models
import TensorCore
import TestSupport

/// GGUF text models written as llama.cpp's converter writes them (Scripts/fixtures/make_gguf_model_fixtures.py)
/// against llama.cpp's own outputs on the same files (llama-cpp-python, F32 KV cache, no flash attention):
/// its tokenization, its greedy tokens and its logits.
///
/// Tolerances, relative to the largest first-step reference logit (measured error in brackets):
/// - F32 files: 1e-4 [~1e-6]; greedy tokens identical.
/// - F16 file: 5e-3 [1.6e-3]; greedy identical. llama.cpp's CPU matmul rounds the activations to F16 for
///   F16 weights (the type's vec_dot_type); Squint keeps them F32.
/// - Q8_0 / Q4_0 files (llama-quantize output, with its F16/Q8_0 fallbacks for 176-wide rows):
///   * against llama.cpp on the same weights dequantized to F32 (gguf-py): 1e-4 [~1e-6], greedy identical.
///     Squint's quantized kernels compute exactly that math.
///   * against llama.cpp on the quantized file itself: 3e-2 [2.1e-2], teacher-forced over its greedy
///     tokens. llama.cpp quantizes the activations to Q8_0/Q8_K blocks for these dot products, Squint does
///     not, so near-ties can flip: the argmax is required only where llama.cpp's top-1 margin exceeds
///     twice the bound, and free-running sequences are not compared (they diverge after such a flip).
final class GGUFModelTests: XCTestCase {
    struct Run: Decodable {
        var ids: [Int]
        var greedy_new_ids: [Int]
        var first_step_logits: [Float]
        var step_margins: [Float]
        /// Per step: the largest logits as [id, logit].
        var step_top: [[[Float]]]
    }

    struct Case: Decodable {
        var text: String
        var add_special_tokens: Bool
        var ids: [Int]
        var greedy_new_ids: [Int]
        var first_step_logits: [Float]
        var step_margins: [Float]
        var step_top: [[[Float]]]
        var dequantized_reference: Run?

        var run: Run {
            Run(ids: ids, greedy_new_ids: greedy_new_ids, first_step_logits: first_step_logits,
                step_margins: step_margins, step_top: step_top)
        }
    }

    struct FileRef: Decodable {
        var source: String
        var raw: Case
        var chat: Case
    }

    struct TokenizeCase: Decodable {
        var text: String
        var ids: [Int]
        var decoded: String
    }

    struct Reference: Decodable {
        var files: [String: FileRef]
        var tokenize: [String: [TokenizeCase]]
    }

    static let dir = Fixtures.url("gguf-models")

    private func reference() throws -> Reference {
        let url = Self.dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-models fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    /// Teacher-forced over the reference's greedy tokens: at every step Squint's logits at the reference's
    /// top candidates are within `tolerance` (relative to the largest first-step logit) and Squint's argmax
    /// is the reference's token, unless `nearTiesMayFlip` and the reference's margin is within twice the
    /// bound. Returns how many steps had their argmax checked.
    @discardableResult
    private func check(_ model: LoadedModel, _ r: Run, tolerance: Float, nearTiesMayFlip: Bool,
                       label: String) throws -> Int {
        let lm = model.language
        let cache = lm.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: lm.logitCount)
        XCTAssertEqual(lm.logitCount, r.first_step_logits.count, "\(label) vocabulary")
        try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: r.ids, cache: cache, logits: $0.baseAddress!) }
        let scale = max(1, r.first_step_logits.map(abs).max() ?? 1)
        let bound = tolerance * scale
        let d = closeness(logits, r.first_step_logits)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, bound, "\(label) first-step logits: \(d)")
        var decided = 0, worst: Float = 0
        for (k, token) in r.greedy_new_ids.enumerated() {
            for pair in r.step_top[k] { worst = max(worst, abs(logits[Int(pair[0])] - pair[1])) }
            let argmax = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
            if !nearTiesMayFlip || r.step_margins[k] > 2 * bound {
                XCTAssertEqual(argmax, token, "\(label) step \(k) argmax (reference margin \(r.step_margins[k]))")
                decided += 1
            }
            try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [token], cache: cache, logits: $0.baseAddress!) }
        }
        XCTAssertLessThanOrEqual(worst, bound, "\(label) step logits at the reference's top candidates")
        return decided
    }

    func testEveryFileMatchesLlamaCpp() throws {
        let ref = try reference()
        XCTAssertEqual(ref.files.count, 6)
        for (name, file) in ref.files.sorted(by: { $0.key < $1.key }) {
            let model = try LoadedModel(directory: Self.dir.appendingPathComponent(name))
            for (kind, c) in [("raw", file.raw), ("chat", file.chat)] {
                let label = "\(name) \(kind)"
                XCTAssertEqual(model.tokenizer.encode(c.text, addSpecialTokens: c.add_special_tokens), c.ids, "\(label) ids")
                if let deq = c.dequantized_reference {
                    XCTAssertEqual(deq.ids, c.ids)
                    // Against transformers on the dequantized weights (f32 activations): the f32 twin of
                    // the quantized matmul must agree to f32 rounding; the default int8-activation path
                    // rounds x as llama.cpp does and is held to llama.cpp's tolerance below.
                    Kernels.int8Activations = false
                    defer { Kernels.int8Activations = true }
                    try check(model, deq, tolerance: 1e-4, nearTiesMayFlip: false, label: "\(label) vs dequantized")
                    Kernels.int8Activations = true
                    let decided = try check(model, c.run, tolerance: 3e-2, nearTiesMayFlip: true, label: label)
                    XCTAssertGreaterThanOrEqual(decided, 3, "\(label): too few steps decidable against llama.cpp")
                } else {
                    try check(model, c.run, tolerance: name.contains("f16") ? 5e-3 : 1e-4, nearTiesMayFlip: false,
                              label: label)
                }
            }
        }
    }

    /// Q8_0 / Q4_0 matrices repacked 16 rows at a time at load (the AVX-512 decode kernel, `Kernels.packed`)
    /// give the unpacked int8 path's logits over a prompt (prefill: several tokens per matmul), decode steps
    /// and a lockstep batch of two sequences. Each matmul computes the same integer block dot products (only
    /// the f32 summation order differs, Pack16Tests), but the next layer rounds its activations to int8, so
    /// an f32-rounding difference can move one activation across a rounding boundary and the logits by up
    /// to the bound used against llama.cpp (3e-2 of the largest logit; measured 9e-3 on qwen2-q4_0).
    func testPackedMatricesGiveTheUnpackedLogits() throws {
        for name in ["qwen2-q4_0.gguf", "qwen2-q8_0.gguf", "llama-q4_0.gguf"] {
            let url = Self.dir.appendingPathComponent(name)
            let packed = try LoadedModel(directory: url)
            DecoderModel.packWeights = false
            defer { DecoderModel.packWeights = true }
            let plain = try LoadedModel(directory: url)
            let lm = try XCTUnwrap(packed.language as? DecoderModel)
            let count = lm.layers.map { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] }.joined()
                .filter { $0.packed16 != nil }.count + (lm.lmHead.packed16 != nil ? 1 : 0)
            if Kernels.activeISA == .avx512 {
                XCTAssertGreaterThan(count, lm.config.layerCount * 4, "\(name): matrices packed on this CPU")
            } else {
                XCTAssertEqual(count, 0, "\(name): nothing packed without AVX-512")
            }
            func logits(_ model: LoadedModel) throws -> [[Float]] {
                let m = model.language, v = m.logitCount
                let cache = m.makeCache(capacity: 64), other = m.makeCache(capacity: 64)
                var out: [[Float]] = []
                var buf = [Float](repeating: 0, count: 2 * v)
                try buf.withUnsafeMutableBufferPointer { b in
                    try m.forward(tokens: [1, 17, 230, 5, 99, 41, 7], cache: cache, logits: b.baseAddress!)
                    out.append(Array(b[0..<v]))
                    for t in [12, 300, 8] {
                        try m.forward(tokens: [t], cache: cache, logits: b.baseAddress!)
                        out.append(Array(b[0..<v]))
                    }
                    try m.forward(tokens: [3, 4], cache: other, logits: b.baseAddress!)
                    try m.forwardBatch(tokens: [21, 22], caches: [cache, other], logits: b.baseAddress!)
                    out.append(Array(b[0..<(2 * v)]))
                }
                return out
            }
            let a = try logits(packed), b = try logits(plain)
            for (i, (x, y)) in zip(a, b).enumerated() {
                let scale = y.map(abs).max() ?? 1
                let worst = zip(x, y).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 3e-2 * scale, "\(name) step \(i): packed vs unpacked logits")
            }
        }
    }

    /// Tricky strings (whitespace runs, digits, contractions in upper case, accents, CJK, emoji, special
    /// tokens inside text) through every pre-tokenizer kind: llama-bpe, qwen2, smollm, gpt-2 and default.
    func testTokenizationMatchesLlamaCpp() throws {
        let ref = try reference()
        XCTAssertEqual(ref.tokenize.count, 5)
        for (name, cases) in ref.tokenize.sorted(by: { $0.key < $1.key }) {
            let file = try GGUFFile(path: Self.dir.appendingPathComponent(name).path)
            let tokenizer = try GGUFTokenizer.load(GGUFMetadata(file)).tokenizer
            for c in cases {
                XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: true), c.ids, "\(name): \(c.text.debugDescription)")
                XCTAssertEqual(tokenizer.decode(c.ids), c.decoded, "\(name) decode: \(c.text.debugDescription)")
            }
        }
    }

    /// F32 / F16 matrices, and block-quantized ones where no packed kernel runs (AVX2 here), are copied at
    /// load into the huge-page arena the packed ones share (same bytes, so the same logits bit for bit), and
    /// the file's pages are no longer what matmuls read.
    func testFloatMatricesCopiedIntoTheArenaGiveTheSameLogits() throws {
        defer { Kernels.setISA(nil) }
        for name in ["qwen2-f32.gguf", "smollm2-f16.gguf", "qwen2-q8_0.gguf"] {
            Kernels.setISA(name.contains("q8_0") ? .avx2 : nil)
            let url = Self.dir.appendingPathComponent(name)
            let copied = try LoadedModel(directory: url)
            DecoderModel.packWeights = false
            defer { DecoderModel.packWeights = true }
            let plain = try LoadedModel(directory: url)
            for (model, inArena) in [(copied, true), (plain, false)] {
                let lm = try XCTUnwrap(model.language as? DecoderModel)
                let matrices = lm.layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] } + [lm.lmHead]
                for w in matrices {
                    XCTAssertEqual(w.owner is MappedFile, !inArena, "\(name): \(w.name) read from the file: \(!inArena)")
                }
            }
            func logits(_ model: LoadedModel) throws -> [Float] {
                let m = model.language, v = m.logitCount
                let cache = m.makeCache(capacity: 16)
                var out: [Float] = []
                var buf = [Float](repeating: 0, count: v)
                try buf.withUnsafeMutableBufferPointer { b in
                    try m.forward(tokens: [1, 17, 230, 5], cache: cache, logits: b.baseAddress!)
                    out += b
                    try m.forward(tokens: [12], cache: cache, logits: b.baseAddress!)
                    out += b
                }
                return out
            }
            XCTAssertEqual(try logits(copied).map(\.bitPattern), try logits(plain).map(\.bitPattern), "\(name): logits")
        }
    }

    /// `--quant` with a GGUF file is a clear error, not silently ignored.
    func testQuantWithAGGUFFileIsAClearError() throws {
        let url = Self.dir.appendingPathComponent("qwen2-q8_0.gguf")
        XCTAssertThrowsError(try LoadedModel(directory: url, options: LoadOptions(quantization: .q4_0))) { error in
            XCTAssertTrue("\(error)".contains("--quant") && "\(error)".contains("safetensors"), "\(error)")
        }
    }

    func testHandWrittenJSONEscapes() throws {
        let tokens = ["a\u{01}b", "\"", "\\", "\n", "é🦊"]
        let data = try GGUFTokenizer.encodeJSON(["x": [1, 2]], vocab: tokens, merges: ["\" \\"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let model = try XCTUnwrap(json["model"] as? [String: Any])
        XCTAssertEqual(model["vocab"] as? [String: Int], Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) }))
        XCTAssertEqual(model["merges"] as? [String], ["\" \\"])
        XCTAssertEqual(json["x"] as? [Int], [1, 2])
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
        // An architecture other than qwen2/llama/qwen2vl.
        XCTAssertThrowsError(try LoadedModel(directory: Fixtures.url("gguf/metadata.gguf"))) { error in
            guard case let ModelError.unsupportedArchitecture(_, type, supported) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "squint-test")
            XCTAssertEqual(supported, ["llama", "qwen2", "qwen2vl"])
        }
        // A WordPiece ("bert") tokenizer.
        XCTAssertThrowsError(try LoadedModel(directory: Self.dir.appendingPathComponent("unsupported-tokenizer.gguf"))) { error in
            guard case let ModelError.invalidConfigValue(_, key, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "tokenizer.ggml.model")
            XCTAssertTrue(reason.contains("'bert'"), reason)
        }
        XCTAssertThrowsError(try GGUFTokenizer.preTokenizer("no-such-pre", path: "x.gguf"))
    }
}

