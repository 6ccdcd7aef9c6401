import Foundation
import ImageProcessing
import XCTest
@testable import Models
import TestSupport

/// Qwen2-VL (4.x layout, f32) and Qwen2.5-VL (5.x layout, bf16, window attention) against transformers'
/// outputs on the same tiny checkpoints and images (Tests/Fixtures/vl, see its README).
/// Tolerances: pixel values bit-exact; vision features within 1e-4 of their largest magnitude; logits
/// within 1e-3 of the largest reference logit (|logit| < 30 here).
final class VisionLanguageTests: XCTestCase {
    static let models = ["qwen2-vl-v4", "qwen2.5-vl-v5"]
    let vl = Fixtures.url("vl")

    private func reference(_ name: String) throws -> [String: Any] {
        try Fixtures.json("vl/\(name)/reference.json") as! [String: Any]
    }

    private func floats(_ any: Any?) -> [Float] { (any as? [NSNumber] ?? []).map(\.floatValue) }

    private func prepare(_ model: LoadedModel, _ path: String) throws -> PreparedImage {
        let image = try ImageDecoder.decode(path: vl.appendingPathComponent(path).path, limits: ImageLimits())
        return try XCTUnwrap(model.vision).prepare(rgb: image.pixels, width: image.width, height: image.height,
                                                   settings: ImageSettings())
    }

    func testPixelValuesGridAndTokenCost() throws {
        for name in Self.models {
            let model = try LoadedModel(directory: vl.appendingPathComponent(name))
            let images = try reference(name)["images"] as! [String: [String: Any]]
            for (path, info) in images {
                let prepared = try prepare(model, path)
                XCTAssertEqual(prepared.grid, info["image_grid_thw"] as? [Int], "\(name) \(path) grid")
                XCTAssertEqual(prepared.tokenCount, info["num_image_tokens"] as? Int, "\(name) \(path) tokens")
                let cost = try model.vision!.tokenCount(width: info["width"] as! Int, height: info["height"] as! Int,
                                                        settings: ImageSettings())
                XCTAssertEqual(cost, prepared.tokenCount, "cost known before preprocessing")
                // The file is named relative to the model directory ("../pixels/photo.npy").
                let expected = try NPYArray(url: vl.appendingPathComponent(name)
                    .appendingPathComponent(info["pixel_values_file"] as! String).standardized)
                XCTAssertEqual(expected.shape, [prepared.pixels.count / expected.shape[1], expected.shape[1]])
                XCTAssertEqual(prepared.pixels, expected.values, "\(name) \(path): pixel values must be bit-exact")
            }
        }
    }

    func testVisionFeaturesMatchTransformers() throws {
        for name in Self.models {
            let dir = vl.appendingPathComponent(name)
            let model = try LoadedModel(directory: dir)
            let images = try reference(name)["images"] as! [String: [String: Any]]
            for (path, info) in images {
                let features = try model.vision!.encode(try prepare(model, path))
                let merged = (info["vision"] as! [String: Any])["merged"] as! [String: Any]
                let expected = try NPYArray(url: dir.appendingPathComponent(merged["file"] as! String))
                let scale = max(1, expected.values.map(abs).max()!)
                let d = closeness(features, expected.values)
                XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-4 * scale, "\(name) \(path) features: \(d)")
            }
        }
    }

    func testWindowIndexMatchesTransformers() throws {
        let images = try reference("qwen2.5-vl-v5")["images"] as! [String: [String: Any]]
        for (path, info) in images {
            let vision = info["vision"] as! [String: Any]
            let grid = info["image_grid_thw"] as! [Int]
            // window_size 56 / merge 2 / patch 14 = 2 merged tokens per window side.
            let (order, bounds) = Qwen2VisionTower.windowIndex(t: grid[0], h: grid[1], w: grid[2], merge: 2, window: 2)
            XCTAssertEqual(order, vision["window_index"] as? [Int], path)
            XCTAssertEqual(bounds, vision["cu_window_seqlens"] as? [Int], path)
        }
    }

    /// (Prompts are prefilled whole and in chunks of 7 rows.)
    func testPromptIdsPositionsLogitsAndGreedyContinuation() throws {
        for name in Self.models {
            let dir = vl.appendingPathComponent(name)
            let model = try LoadedModel(directory: dir)
            let vision = try XCTUnwrap(model.vision)
            // Also in prefill chunks of 7 rows: the image's embeddings then span several passes, each with
            // its slice of the M-RoPE positions.
            for (c, chunk) in try (reference(name)["cases"] as! [[String: Any]]).flatMap({ c in [(c, 512), (c, 7)] }) {
                let label = "\(name) \(c["name"]!) in chunks of \(chunk)"
                try XCTUnwrap(model.language as? DecoderModel).maxChunk = chunk
                let ids = c["input_ids"] as! [Int]
                let paths = c["image_paths"] as? [String] ?? []
                let images = try paths.map { try prepare(model, $0) }
                XCTAssertEqual(images.map(\.tokenCount), c["image_token_counts"] as? [Int] ?? [], label)
                let (positions, delta) = try vision.positions(for: ids, images: images)
                let expected = c["position_ids"] as! [[Int]]
                if case let .multimodal(t, h, w) = positions {
                    XCTAssertEqual([t, h, w].map { $0.map(Int.init) }, expected, "\(label) positions")
                }
                XCTAssertEqual(delta, c["rope_delta"] as? Int, "\(label) rope delta")

                // Embeddings with the image features scattered in, one forward pass, greedy decoding.
                let lm = model.language
                let hidden = lm.config.hiddenSize
                let features = try images.map { try vision.encode($0) }
                var rows = [Float](repeating: 0, count: ids.count * hidden)
                var image = 0, row = 0
                for (j, id) in ids.enumerated() {
                    if id == vision.imageTokenID {
                        for i in 0..<hidden { rows[j * hidden + i] = features[image][row * hidden + i] }
                        row += 1
                        if row == images[image].tokenCount { image += 1; row = 0 }
                    } else {
                        try rows.withUnsafeMutableBufferPointer { try lm.embed(ids[j...j], into: $0.baseAddress! + j * hidden) }
                    }
                }
                let cache = lm.makeCache(capacity: 512)
                cache.positionDelta = delta
                var logits = [Float](repeating: 0, count: lm.logitCount)
                try rows.withUnsafeBufferPointer { r in try logits.withUnsafeMutableBufferPointer { l in
                    try lm.forward(embeddings: r.baseAddress!, count: ids.count, positions: positions, entries: ids,
                                   cache: cache, logits: l.baseAddress!)
                } }
                let first = floats(c["first_step_logits"])
                let scale = max(1, first.map(abs).max()!)
                let d = closeness(logits, first)
                XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * scale, "\(label) first-step logits: \(d)")
                let steps = try NPYArray(url: dir.appendingPathComponent(c["step_logits_file"] as! String))
                var generated: [Int] = []
                for step in 0..<(c["greedy_new_ids"] as! [Int]).count {
                    if step < steps.shape[0] {
                        let ds = closeness(logits, steps.row(step))
                        XCTAssertLessThanOrEqual(ds.maxAbsDiff, 1e-3 * scale, "\(label) step \(step): \(ds)")
                    }
                    let next = logits.indices.max { logits[$0] < logits[$1] }!
                    generated.append(next)
                    try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [next], cache: cache, logits: $0.baseAddress!) }
                }
                XCTAssertEqual(generated, c["greedy_new_ids"] as? [Int], "\(label) greedy continuation")
            }
        }
    }
}
