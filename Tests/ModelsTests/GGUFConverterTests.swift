import Foundation
import XCTest
import ModelFormats
@testable import Models
import TensorCore
import ImageProcessing
import TestSupport

/// `squint quantize` (GGUFConverter): files written from the tiny safetensors fixtures against the files
/// llama.cpp's converter logic writes (Tests/Fixtures/gguf-models, made with gguf-py by
/// make_gguf_model_fixtures.py) and against llama.cpp run on the files themselves
/// (Tests/Fixtures/gguf-quantize, recorded by make_quantize_fixtures.py).
final class GGUFConverterTests: XCTestCase {
    static let dir = Fixtures.url("gguf-quantize")

    struct Case: Decodable {
        var text: String
        var add_special_tokens: Bool
        var ids: [Int]
        var greedy_new_ids: [Int]
        var min_top1_margin: Float
        /// Q8_0 files: llama.cpp on the same file with the weights dequantized to F32.
        var dequantized_greedy_new_ids: [Int]?
    }

    struct FileRef: Decodable {
        var source: String
        var raw: Case
        var chat: Case
    }

    struct Reference: Decodable {
        var files: [String: FileRef]
    }

    private func reference() throws -> Reference {
        let url = Self.dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-quantize fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    private func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squint-quantize-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// Greedy continuation of `ids` for `steps` tokens (argmax, lowest id on ties), no stop tokens.
    private func greedy(_ model: LoadedModel, _ ids: [Int], steps: Int) throws -> [Int] {
        let lm = model.language
        let cache = lm.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: lm.logitCount)
        try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: ids, cache: cache, logits: $0.baseAddress!) }
        var out: [Int] = []
        for _ in 0..<steps {
            var best = 0
            for i in logits.indices where logits[i] > logits[best] { best = i }
            out.append(best)
            try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [best], cache: cache, logits: $0.baseAddress!) }
        }
        return out
    }

    /// The committed files are what the converter writes today, byte for byte, so llama.cpp's outputs
    /// recorded on them are outputs on Squint's files.
    func testConverterRewritesTheCommittedFiles() throws {
        let ref = try reference()
        XCTAssertEqual(ref.files.count, 4)
        for (name, file) in ref.files {
            let stem = name.replacingOccurrences(of: ".gguf", with: "")
            let type = try GGUFConverter.parseType(String(stem.split(separator: "-").last ?? ""))
            let path = tempPath(name)
            try GGUFConverter.write(directory: Fixtures.url("models/\(file.source)"), type: type, to: path)
            let mine = try Data(contentsOf: URL(fileURLWithPath: path))
            let committed = try Data(contentsOf: Self.dir.appendingPathComponent(name))
            XCTAssertEqual(mine.count, committed.count, name)
            XCTAssertTrue(mine == committed, "\(name): bytes differ from the committed file")
        }
    }

    /// llama.cpp loaded every written file (the reference exists) and Squint's GGUF loader reads the same
    /// prompt ids and gives llama.cpp's greedy tokens. F16 files: 20 tokens identical to llama.cpp's, and to
    /// the safetensors checkpoint's in Squint (f16 weights: exactly the source for llama-v4, rounded from
    /// f32 for qwen2-v4). Q8_0 files: llama.cpp rounds the activations to Q8_0 blocks for quantized dot
    /// products, and so does Squint by default (its own rounding), so free-running sequences may part after a
    /// near tie; Squint's f32-activation path must give exactly the tokens of llama.cpp on the same weights
    /// dequantized to F32, and the default path llama.cpp's own tokens for at least as long as that twin does.
    func testWrittenFilesMatchLlamaCppAndTheSafetensorsModel() throws {
        let ref = try reference()
        for (name, file) in ref.files.sorted(by: { $0.key < $1.key }) {
            let gguf = try LoadedModel(directory: Self.dir.appendingPathComponent(name))
            let source = try LoadedModel(directory: Fixtures.url("models/\(file.source)"))
            for (kind, c) in [("raw", file.raw), ("chat", file.chat)] {
                let label = "\(name) \(kind)"
                let steps = c.greedy_new_ids.count
                XCTAssertEqual(steps, 20)
                XCTAssertEqual(gguf.tokenizer.encode(c.text, addSpecialTokens: c.add_special_tokens), c.ids, "\(label) ids")
                let mine = try greedy(gguf, c.ids, steps: steps)
                if let twin = c.dequantized_greedy_new_ids {
                    // The f32-activation twin of the quantized kernels is the math of llama.cpp on the
                    // dequantized weights; the default int8 activations round as llama.cpp's own quantized
                    // dot products do, so they must follow llama.cpp's own run at least as long as the twin.
                    Kernels.int8Activations = false
                    let exact = try greedy(gguf, c.ids, steps: steps)
                    Kernels.int8Activations = true
                    XCTAssertEqual(exact, twin, "\(label): greedy tokens vs llama.cpp on the dequantized weights")
                    func agreement(_ a: [Int], _ b: [Int]) -> Int { zip(a, b).prefix { $0 == $1 }.count }
                    XCTAssertGreaterThanOrEqual(agreement(mine, c.greedy_new_ids), agreement(twin, c.greedy_new_ids),
                                                "\(label): \(mine) vs llama.cpp's \(c.greedy_new_ids)")
                } else {
                    XCTAssertEqual(mine, c.greedy_new_ids, "\(label): greedy tokens vs llama.cpp")
                    XCTAssertEqual(try greedy(source, c.ids, steps: steps), mine, "\(label): vs the safetensors model")
                }
            }
        }
    }

    /// F32 (and SmolLM2's F16) conversion against the gguf-py-written fixtures: the same tensors (names, shapes, types, bytes:
    /// Llama's permuted Q/K and rope_freqs included) and the same metadata, apart from keys the newer
    /// converter this follows adds and that script leaves out (general.type, quantization_version,
    /// general.sampling.* from generation_config.json; add_bos/add_eos from the ByteLevel post-processor)
    /// and one its older gguf-py wrote differently (add_sep_token). The Qwen2-VL test below compares with
    /// files from the real convert_hf_to_gguf.py, where these keys do agree.
    func testF32ConversionMatchesTheReferenceConverter() throws {
        let cases: [(String, String, DType)] = [("qwen2-v4", "qwen2-f32.gguf", .f32), ("llama-v4", "llama-f32.gguf", .f32),
                                                ("smollm2-v5", "smollm2-f16.gguf", .f16)]
        for (model, fixture, type) in cases {
            let path = tempPath("\(model)-\(type).gguf")
            try GGUFConverter.write(directory: Fixtures.url("models/\(model)"), type: type, to: path)
            let mine = try GGUFFile(path: path)
            let theirs = try GGUFFile(path: Fixtures.url("gguf-models/\(fixture)").path)
            let added: Set<String> = ["general.type", "general.quantization_version", "tokenizer.ggml.add_bos_token",
                                      "general.sampling.top_k", "general.sampling.top_p", "general.sampling.temp",
                                      "general.sampling.penalty_repeat", "general.sampling.min_p",
                                      "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_sep_token"]
            try assertSame(mine, theirs, ignoring: added, model)
            XCTAssertEqual(mine.metadata["tokenizer.ggml.add_bos_token"], model == "llama-v4" ? .bool(true) : .bool(false), model)
            XCTAssertEqual(mine.metadata["general.architecture"], theirs.metadata["general.architecture"])
        }
    }

    /// Qwen2-VL / Qwen2.5-VL language models against the text GGUFs llama.cpp's own convert_hf_to_gguf.py
    /// wrote (make_gguf_vl_fixtures.py): architecture qwen2vl with rope.dimension_sections, the same
    /// tensors byte for byte, and every metadata key, apart from the naming heuristics gguf-py applies to
    /// the directory name (general.name, basename, version, size_label).
    func testQwen2VLTextMatchesLlamaCppsConverter() throws {
        let naming: Set<String> = ["general.name", "general.basename", "general.version", "general.size_label"]
        for (model, fixture) in [("qwen2-vl-v4", "qwen2-vl-f32.gguf"), ("qwen2.5-vl-v5", "qwen2.5-vl-f32.gguf")] {
            let theirsURL = Fixtures.url("gguf-vl/\(fixture)")
            try XCTSkipUnless(FileManager.default.fileExists(atPath: theirsURL.path), "gguf-vl fixtures missing")
            let path = tempPath("\(model).gguf")
            try GGUFConverter.write(directory: Fixtures.url("vl/\(model)"), type: .f32, to: path)
            let mine = try GGUFFile(path: path), theirs = try GGUFFile(path: theirsURL.path)
            XCTAssertEqual(mine.metadata["general.architecture"], .string("qwen2vl"))
            try assertSame(mine, theirs, ignoring: naming, model)
        }
    }

    /// Both files' tensors (names, dims, types, bytes) and metadata equal, apart from `ignoring` keys.
    private func assertSame(_ mine: GGUFFile, _ theirs: GGUFFile, ignoring: Set<String>, _ label: String) throws {
        XCTAssertEqual(Set(mine.metadataKeys).subtracting(ignoring), Set(theirs.metadataKeys).subtracting(ignoring), label)
        for key in Set(theirs.metadataKeys).subtracting(ignoring) {
            XCTAssertEqual(mine.metadata[key], theirs.metadata[key], "\(label) \(key)")
        }
        XCTAssertEqual(Set(mine.tensorNames), Set(theirs.tensorNames), label)
        for name in theirs.tensorNames {
            guard let a = mine.tensors[name], let b = theirs.tensors[name] else { continue }
            XCTAssertEqual(a.dims, b.dims, "\(label) \(name)")
            XCTAssertEqual(a.type, b.type, "\(label) \(name)")
            let ra = try mine.rawData(name), rb = try theirs.rawData(name)
            XCTAssertTrue(ra.count == rb.count && memcmp(ra.baseAddress!, rb.baseAddress!, ra.count) == 0, "\(label) \(name) bytes")
        }
    }

    /// The mmproj files against those llama.cpp's convert_hf_to_gguf.py --mmproj wrote (F32 and F16, both
    /// families: split QKV, split Conv3D, clip.* keys incl. Qwen2.5-VL's use_silu and n_wa_pattern), and
    /// Squint's GGUF vision path on the written pair gives llama.cpp's projector features.
    func testMmprojMatchesLlamaCppsConverter() throws {
        let refURL = Fixtures.url("gguf-vl/reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: refURL.path), "gguf-vl fixtures missing")
        let naming: Set<String> = ["general.name", "general.basename", "general.version", "general.size_label"]
        for (model, stem) in [("qwen2-vl-v4", "qwen2-vl"), ("qwen2.5-vl-v5", "qwen2.5-vl")] {
            for type in [DType.f32, .f16] {
                let fixture = "mmproj-\(stem)-\(type.rawValue.lowercased()).gguf"
                let path = tempPath(fixture)
                try GGUFMmprojConverter.write(directory: Fixtures.url("vl/\(model)"), type: type, to: path)
                try assertSame(try GGUFFile(path: path), try GGUFFile(path: Fixtures.url("gguf-vl/\(fixture)").path),
                               ignoring: naming, fixture)
            }
        }
        let models = try Fixtures.json("gguf-vl/reference.json") as! [String: Any]
        let entry = try XCTUnwrap((models["models"] as? [String: [String: Any]])?.first { ($0.value["mmproj"] as? String) == "mmproj-qwen2-vl-f32.gguf" }?.value)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squint-quantize-pair-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = dir.appendingPathComponent("model.gguf"), mmproj = dir.appendingPathComponent("mmproj-model.gguf")
        try GGUFConverter.write(directory: Fixtures.url("vl/qwen2-vl-v4"), type: .f32, to: text.path)
        try GGUFMmprojConverter.write(directory: Fixtures.url("vl/qwen2-vl-v4"), type: .f32, to: mmproj.path)
        let loaded = try LoadedModel(gguf: text, mmproj: mmproj)
        let vision = try XCTUnwrap(loaded.vision)
        let c = try XCTUnwrap((entry["cases"] as? [[String: Any]])?.first { $0["image"] is String })
        let image = try ImageDecoder.decode(path: Fixtures.url(c["image"] as! String).path, limits: ImageLimits())
        let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height, settings: ImageSettings())
        let expected = ((c["images"] as! [[String: Any]])[0]["features"] as! [NSNumber]).map(\.floatValue)
        let d = closeness(try vision.encode(prepared), expected)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * max(1, expected.map(abs).max() ?? 1), "features: \(d)")
    }

    /// Q4_K in a whole file llama.cpp loads: the demo model (its 512-wide ffn_down rows are whole Q4_K
    /// super-blocks) converted with --type q4_k. The file is rewritten here and must hash as the one
    /// llama.cpp ran on; Squint then gives llama.cpp's tokens on the dequantized twin, and llama.cpp's own
    /// tokens as long as the twin does.
    func testDemoModelQ4KFileMatchesLlamaCpp() throws {
        let url = Self.dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-quantize fixtures missing")
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let demo = try XCTUnwrap(root["demo_q4_k"] as? [String: Any])
        let source = Fixtures.repoRoot.appendingPathComponent("Assets/demo-model")
        let weights = try [UInt8](Data(contentsOf: source.appendingPathComponent("model.safetensors")))
        try XCTSkipUnless(sha256Hex(weights) == demo["source_sha256"] as? String,
                          "Assets/demo-model changed since make_quantize_fixtures.py ran: re-run it")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("squint-quantize-demo-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("demo-q4_k.gguf")
        let counts = try GGUFConverter.write(directory: source, type: .q4_K, to: path.path)
        // One Q4_K matrix per layer: ffn_down, the only one with whole 256-blocks per row.
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any])
        let layers = try XCTUnwrap((config["text_config"] as? [String: Any])?["num_hidden_layers"] as? Int)
        XCTAssertEqual(counts["Q4_K"], layers)
        XCTAssertEqual(counts, demo["tensor_types"] as? [String: Int])
        XCTAssertEqual(sha256Hex(try [UInt8](Data(contentsOf: path))), demo["gguf_sha256"] as? String, "not the file llama.cpp ran on")
        let model = try LoadedModel(gguf: path)
        var atLoad: LoadedModel?
        for kind in ["raw", "chat"] {
            let c = try XCTUnwrap(demo[kind] as? [String: Any])
            let ids = try XCTUnwrap(c["ids"] as? [Int]), llama = try XCTUnwrap(c["greedy_new_ids"] as? [Int])
            let twin = try XCTUnwrap(c["dequantized_greedy_new_ids"] as? [Int])
            XCTAssertEqual(model.tokenizer.encode(c["text"] as! String, addSpecialTokens: c["add_special_tokens"] as! Bool), ids, kind)
            // Tokens are compared up to the first step where llama.cpp's top two logits are within 0.05 (a
            // near-tie that rounding differences may flip: Squint rounds activations to int8 where llama.cpp
            // uses Q8_K); past it the two may rightly part.
            let margins = try XCTUnwrap(c["step_margins"] as? [Double])
            let sure = min(twin.count, margins.firstIndex { $0 < 0.05 } ?? twin.count)
            XCTAssertGreaterThanOrEqual(sure, 3, "\(kind): the reference should be decisive for a few tokens")
            let mine = try greedy(model, ids, steps: twin.count)
            XCTAssertEqual(Array(mine.prefix(sure)), Array(twin.prefix(sure)), "\(kind): vs llama.cpp on the dequantized weights")
            let agree = zip(mine, llama).prefix { $0 == $1 }.count, twinAgree = zip(twin, llama).prefix { $0 == $1 }.count
            XCTAssertGreaterThanOrEqual(agree, min(twinAgree, sure), "\(kind): \(mine) vs llama.cpp's \(llama)")
            // `--quant q4_k` at load quantizes the same matrices to the same types from the same values
            // (norms and biases stay bf16, which the file widens exactly to F32): the same tokens.
            if atLoad == nil { atLoad = try LoadedModel(directory: source, options: LoadOptions(quantization: .q4_K)) }
            if let atLoad {
                XCTAssertEqual(Array(try greedy(atLoad, ids, steps: twin.count).prefix(sure)), Array(twin.prefix(sure)),
                               "\(kind): --quant q4_k at load")
            }
        }
    }

    func testTensorTypesFollowTheConverter() throws {
        let w = try GGUFConverter.convert(directory: Fixtures.url("models/qwen2-v4"), type: .q8_0)
        let types = Dictionary(uniqueKeysWithValues: zip(w.tensorNames, w.tensorTypes))
        XCTAssertEqual(types["blk.0.attn_norm.weight"], "F32")
        XCTAssertEqual(types["blk.0.attn_q.bias"], "F32", "biases stay F32")
        XCTAssertEqual(types["blk.0.attn_q.weight"], "Q8_0")
        XCTAssertEqual(types["token_embd.weight"], "Q8_0")
        XCTAssertEqual(types["blk.0.ffn_down.weight"], "F16", "176-wide rows are not whole Q8_0 blocks: F16, as gguf-py's QuantError fallback")
        let q4 = try GGUFConverter.convert(directory: Fixtures.url("models/llama-v4"), type: .q4_0)
        let t4 = Dictionary(uniqueKeysWithValues: zip(q4.tensorNames, q4.tensorTypes))
        XCTAssertEqual(t4["output.weight"], "Q8_0")
        XCTAssertEqual(t4["blk.0.attn_k.weight"], "Q4_0")
        XCTAssertEqual(t4["rope_freqs.weight"], "F32")
        XCTAssertEqual(t4["token_embd.weight"], "Q4_0", "untied: the embedding takes the requested type")
        // Tied (no output.weight): the embedding is the output projection, kept at Q8_0 under 4-bit types.
        let tied = try GGUFConverter.convert(directory: Fixtures.url("models/qwen2-v4"), type: .q4_0)
        let tt = Dictionary(uniqueKeysWithValues: zip(tied.tensorNames, tied.tensorTypes))
        XCTAssertNil(tt["output.weight"])
        XCTAssertEqual(tt["token_embd.weight"], "Q8_0")
        XCTAssertEqual(tt["blk.0.attn_k.weight"], "Q4_0")
    }

    func testUnsupportedInputsAreClearErrors() throws {
        XCTAssertThrowsError(try GGUFConverter.parseType("q5_k")) { XCTAssertTrue("\($0)".contains("q4_k"), "\($0)") }
        XCTAssertThrowsError(try GGUFConverter.convert(directory: Fixtures.url("vl/idefics3-v4"), type: .f16)) { error in
            guard case let ModelError.unsupportedModelType(_, type, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "idefics3")
        }
        XCTAssertThrowsError(try GGUFConverter.convert(directory: Fixtures.url("gguf-models/qwen2-f32.gguf"), type: .f16)) {
            XCTAssertTrue("\($0)".contains("not a model directory"), "\($0)")
        }
    }
}
