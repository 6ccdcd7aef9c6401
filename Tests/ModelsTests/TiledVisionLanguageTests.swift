import Foundation
import ImageProcessing
import XCTest
@testable import Models
import TestSupport

/// LLaVA-OneVision (AnyRes tiles, SigLIP, f16) and SmolVLM (split tiles, pixel shuffle, SigLIP with
/// bucketed positions) against transformers' outputs on the same tiny checkpoints and images
/// (Tests/Fixtures/vl, see its README). Tolerances: pixel values bit-exact; the features scattered into
/// the prompt within 1e-4 of their largest magnitude; logits within 1e-3 of the largest reference logit.
final class TiledVisionLanguageTests: XCTestCase {
    static let models = ["llava-ov-v5"]
    let vl = Fixtures.url("vl")

    private func reference(_ name: String) throws -> [String: Any] {
        try Fixtures.json("vl/\(name)/reference.json") as! [String: Any]
    }

    private func cases(_ name: String) throws -> [[String: Any]] { try reference(name)["cases"] as! [[String: Any]] }

    private func floats(_ any: Any?) -> [Float] { (any as? [NSNumber] ?? []).map(\.floatValue) }

    /// Prepares every image of a case as the engine does (the prompt's image count in the settings).
    private func prepare(_ model: LoadedModel, _ c: [String: Any], settings: ImageSettings = ImageSettings()) throws -> [PreparedImage] {
        let paths = c["image_paths"] as? [String] ?? []
        var s = settings
        s.imagesInPrompt = paths.count
        return try paths.map { path in
            let image = try ImageDecoder.decode(path: vl.appendingPathComponent(path).path, limits: ImageLimits())
            return try XCTUnwrap(model.vision).prepare(rgb: image.pixels, width: image.width, height: image.height, settings: s)
        }
    }

    func testPixelsTokenCountsAndFeaturesMatchTransformers() throws {
        for name in Self.models {
            let dir = vl.appendingPathComponent(name)
            let model = try LoadedModel(directory: dir)
            let vision = try XCTUnwrap(model.vision)
            for c in try cases(name) where c["images"] != nil {
                let infos = c["images"] as! [[String: Any]]
                let prepared = try prepare(model, c)
                for (image, info) in zip(prepared, infos) {
                    let label = "\(name) \(c["name"]!) \(info["path"]!)"
                    XCTAssertEqual(image.tokenCount, info["num_features"] as? Int, "\(label) token count")
                    let pathInfo = try ImageDecoder.decode(path: vl.appendingPathComponent(info["path"] as! String).path,
                                                           limits: ImageLimits())
                    var s = ImageSettings()
                    s.imagesInPrompt = infos.count
                    XCTAssertEqual(try vision.tokenCount(width: pathInfo.width, height: pathInfo.height, settings: s),
                                   image.tokenCount, "\(label): cost known before preprocessing")
                    let pixels = try NPYArray(url: dir.appendingPathComponent(info["pixel_values_file"] as! String))
                    XCTAssertEqual(image.pixels.count, pixels.values.count, "\(label) pixel count \(pixels.shape)")
                    XCTAssertTrue(image.pixels == pixels.values, "\(label): pixel values must be bit-exact")
                    let features = try vision.encode(image)
                    let expected = try NPYArray(url: dir.appendingPathComponent(info["features_file"] as! String))
                    XCTAssertEqual(features.count, expected.values.count, "\(label) feature count")
                    let scale = max(1, expected.values.map(abs).max()!)
                    let d = closeness(features, expected.values)
                    XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-4 * scale, "\(label) features: \(d)")
                }
            }
        }
    }

    func testPromptIdsLogitsAndGreedyContinuation() throws {
        for name in Self.models {
            let dir = vl.appendingPathComponent(name)
            let model = try LoadedModel(directory: dir)
            let vision = try XCTUnwrap(model.vision)
            for c in try cases(name) {
                let label = "\(name) \(c["name"]!)"
                let images = try prepare(model, c)
                // The placeholders expanded as the processor writes them, then tokenized.
                let expanded = try vision.expandPlaceholders(in: c["prompt"] as! String, images: images)
                let ids = model.tokenizer.encode(expanded, addSpecialTokens: false)
                XCTAssertEqual(ids, c["input_ids"] as? [Int], "\(label) input ids")
                let (positions, delta) = try vision.positions(for: ids, images: images)
                XCTAssertEqual(positions, .sequential(start: 0))
                XCTAssertEqual(delta, 0)

                // Embeddings with the image features scattered in order, one forward pass, greedy decoding.
                let lm = model.language
                let hidden = lm.config.hiddenSize
                let features = try images.map { try vision.encode($0) }.flatMap { $0 }
                var rows = [Float](repeating: 0, count: ids.count * hidden)
                var row = 0
                for (j, id) in ids.enumerated() {
                    if id == vision.imageTokenID {
                        for i in 0..<hidden { rows[j * hidden + i] = features[row * hidden + i] }
                        row += 1
                    } else {
                        try rows.withUnsafeMutableBufferPointer { try lm.embed(ids[j...j], into: $0.baseAddress! + j * hidden) }
                    }
                }
                XCTAssertEqual(row * hidden, features.count, "\(label): every feature row has an image token")
                let cache = lm.makeCache(capacity: 1024)
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
                let want = c["greedy_new_ids"] as! [Int]
                XCTAssertGreaterThanOrEqual(want.count, 16)
                var generated: [Int] = []
                for step in 0..<want.count {
                    if step < steps.shape[0] {
                        let ds = closeness(logits, steps.row(step))
                        XCTAssertLessThanOrEqual(ds.maxAbsDiff, 1e-3 * scale, "\(label) step \(step): \(ds)")
                    }
                    let next = logits.indices.max { logits[$0] < logits[$1] }!
                    generated.append(next)
                    try logits.withUnsafeMutableBufferPointer { try lm.forward(tokens: [next], cache: cache, logits: $0.baseAddress!) }
                }
                XCTAssertEqual(generated, want, "\(label) greedy continuation")
            }
        }
    }

    // MARK: LLaVA-OneVision geometry

    func testAnyResGeometryMatchesTransformers() throws {
        let name = "llava-ov-v5"
        let pinpoints = (1...6).flatMap { i in (1...6).map { j in (height: 84 * i, width: 84 * j) } }
        for c in try cases(name) {
            for info in c["images"] as? [[String: Any]] ?? [] where (info["mode"] as! String).hasPrefix("anyres") {
                let size = info["image_size"] as! [Int]
                let best = try XCTUnwrap(AnyRes.bestResolution(height: size[0], width: size[1], pinpoints: pinpoints))
                XCTAssertEqual([best.height, best.width], info["best_resolution"] as? [Int])
                let fitted = AnyRes.fittedSize(height: size[0], width: size[1], target: best)
                XCTAssertEqual([fitted.height, fitted.width], info["resized_for_tiles"] as? [Int])
                let layout = AnyRes.layout(originalHeight: size[0], originalWidth: size[1], best: best, tileSize: 84,
                                           side: 6, maxPatchTiles: 9)
                XCTAssertEqual([layout.tileRows, layout.tileCols], info["tile_grid"] as? [Int])
                XCTAssertEqual([layout.rows, layout.cols], info["unpadded"] as? [Int])
                XCTAssertEqual([layout.outRows, layout.outCols], info["final_grid"] as? [Int])
            }
        }
    }

    func testMaxTilesNarrowsTheGrid() throws {
        let model = try LoadedModel(directory: vl.appendingPathComponent("llava-ov-v5"))
        let vision = try XCTUnwrap(model.vision)
        // photo.jpg (333 x 517) picks 504 x 336 (6 x 4 tiles) by default. With at most 4 tiles the
        // choice is 168 x 168: 144 tokens, and wide.png (900 x 200) gets 84 x 336: 186 tokens (both from
        // transformers' `_get_number_of_features` with `image_grid_pinpoints` filtered the same way).
        XCTAssertEqual(try vision.tokenCount(width: 333, height: 517, settings: ImageSettings()), 366)
        XCTAssertEqual(try vision.tokenCount(width: 333, height: 517, settings: ImageSettings(maxTiles: 4)), 144)
        XCTAssertEqual(try vision.tokenCount(width: 900, height: 200, settings: ImageSettings(maxTiles: 4)), 186)
        let image = try ImageDecoder.decode(path: vl.appendingPathComponent("images/photo.jpg").path, limits: ImageLimits())
        let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height,
                                          settings: ImageSettings(maxTiles: 4))
        XCTAssertEqual(prepared.grid, [5, 168, 168, 517, 333])
        XCTAssertEqual(try vision.encode(prepared).count, 144 * model.language.config.hiddenSize)
        XCTAssertThrowsError(try vision.tokenCount(width: 333, height: 517, settings: ImageSettings(maxTiles: 0)))
    }
}
