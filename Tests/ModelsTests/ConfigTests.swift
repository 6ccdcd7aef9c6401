import Foundation
import XCTest
@testable import Models
import TestSupport

final class ConfigTests: XCTestCase {
    private func parse(_ json: String, type: String = "llama") throws -> TextConfig {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try TextConfig.parse(JSONConfig(path: "config.json", object: object), modelType: type)
    }

    let base = #""hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100"#

    func testFlatAndNestedRopeLayouts() throws {
        let v4 = try parse("{\(base), \"rope_theta\": 500000, \"rope_scaling\": null}")
        XCTAssertEqual(v4.rope.theta, 500000)
        XCTAssertEqual(v4.rope.scaling, .none)
        XCTAssertEqual(v4.kvHeadCount, 4)
        XCTAssertEqual(v4.headDim, 16)
        let v5 = try parse("{\(base), \"rope_parameters\": {\"rope_theta\": 250000.0, \"rope_type\": \"linear\", \"factor\": 2.0}}")
        XCTAssertEqual(v5.rope.theta, 250000)
        XCTAssertEqual(v5.rope.scaling, .linear(factor: 2))
        let mrope = try parse("{\(base), \"rope_scaling\": {\"type\": \"mrope\", \"mrope_section\": [2, 3, 3]}}", type: "qwen2_vl")
        XCTAssertEqual(mrope.rope.mropeSection, [2, 3, 3])
        XCTAssertTrue(mrope.qkvBias)
    }

    func testLlama3ScalingMatchesTransformers() throws {
        // Expected values from transformers' _compute_llama3_parameters(factor 8, low 1, high 4,
        // original 64) for head_dim 16, theta 10000 (computed with torch, float32).
        let c = try parse("{\(base), \"rope_theta\": 10000, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}")
        let inv = c.rope.inverseFrequencies(headDim: 16)
        // Plain inverse frequencies 10000^(-2i/16): i = 0 stays (wavelen 6.3 < 16), i = 7 (wavelen
        // 2*pi*10000^(14/16) ≈ 19,870 > 64) is divided by 8.
        XCTAssertEqual(inv[0], 1, accuracy: 1e-7)
        XCTAssertEqual(inv[7], powf(10000, -14.0 / 16.0) / 8, accuracy: 1e-9)
        // i = 2: 10000^(-0.25) = 0.1 -> wavelen 62.83, between 16 and 64: smoothed.
        let f: Float = 0.1, wavelen = 2 * Float.pi / f
        let smooth = (64 / wavelen - 1) / 3
        XCTAssertEqual(inv[2], (1 - smooth) * f / 8 + smooth * f, accuracy: 1e-6)
    }

    func testMissingAndBadKeysAreNamed() throws {
        XCTAssertThrowsError(try parse(#"{"hidden_size": 64}"#)) { error in
            XCTAssertEqual(error as? ModelError, .missingConfigKey(path: "config.json", key: "num_attention_heads"))
        }
        XCTAssertThrowsError(try parse("{\(base), \"num_key_value_heads\": 3}")) { error in
            guard case let .invalidConfigValue(_, key, _)? = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "num_key_value_heads")
        }
        XCTAssertThrowsError(try parse("{\(base), \"rope_scaling\": {\"rope_type\": \"yarn-ish\"}}")) { error in
            XCTAssertEqual(error as? ModelError, .unsupportedRopeType(path: "config.json", ropeType: "yarn-ish"))
        }
        XCTAssertThrowsError(try parse(#"{"hidden_size": "wide"}"#))
    }

    func testModelDirectoryErrors() throws {
        let dir = try Fixtures.temporaryDirectory("cfg")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try LoadedModel(directory: dir.appendingPathComponent("nope"))) { error in
            XCTAssertTrue("\(error)".contains("no such model directory"), "\(error)")
        }
        XCTAssertThrowsError(try LoadedModel(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
        }
        try #"{"model_type": "mamba"}"#.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try LoadedModel(directory: dir)) { error in
            guard case let .unsupportedModelType(_, type, supported)? = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "mamba"); XCTAssertTrue(supported.contains("qwen2"))
        }
        // A real config whose weights are truncated: the error names the file and the tensor.
        let src = Fixtures.url("models/qwen2-v4")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: src.path))
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(f))
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let weights = try Data(contentsOf: src.appendingPathComponent("model.safetensors"))
        try weights.prefix(weights.count - 1000).write(to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try LoadedModel(directory: dir)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("model.safetensors") && text.contains("tensor '"), text)
        }
        // A config missing a required key.
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: src.appendingPathComponent("config.json"))) as! [String: Any]
        config.removeValue(forKey: "num_hidden_layers")
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try weights.write(to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try LoadedModel(directory: dir)) { error in
            XCTAssertEqual(error as? ModelError, .missingConfigKey(path: dir.appendingPathComponent("config.json").path, key: "num_hidden_layers"))
        }
    }
}

/// SigLIP as the real checkpoints configure it: 384 px tiles, 14 px patches (27 x 27 patches, the last
/// 6 px unread), which LLaVA-OneVision and SmolVLM-Instruct use.
final class SigLIPConfigTests: XCTestCase {
    func testTileSizeNeedNotBeAMultipleOfThePatch() throws {
        let c = JSONConfig(path: "config.json", object: ["hidden_size": 1152, "num_attention_heads": 16,
                                                         "image_size": 384, "patch_size": 14])
        let config = try SigLIPConfig.parse(c)
        XCTAssertEqual(config.patchesPerSide, 27)
        XCTAssertThrowsError(try SigLIPConfig.parse(JSONConfig(path: "config.json", object: ["image_size": 8, "patch_size": 14]))) {
            XCTAssertTrue("\($0)".contains("image_size"), "\($0)")
        }
    }
}
