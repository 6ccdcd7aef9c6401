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
    /// The 4.x hub layouts (idefics3-v4: model_type idefics3 with the Idefics3 processor files) share the
    /// 5.x directories' weights and reference outputs.
    static let models = ["llava-ov-v5", "smolvlm-v5", "llava-ov-v4", "idefics3-v4"]
    let vl = Fixtures.url("vl")

    /// The directory whose reference.json (and ref/, pixels/) describes `name`'s outputs.
    private func referenceDir(_ name: String) throws -> String {
        let own = try Fixtures.json("vl/\(name)/reference.json") as! [String: Any]
        guard let file = own["reference_file"] as? String else { return name }
        return URL(fileURLWithPath: file, relativeTo: URL(fileURLWithPath: "/\(name)/")).deletingLastPathComponent()
            .path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    private func reference(_ name: String) throws -> [String: Any] {
        try Fixtures.json("vl/\(try referenceDir(name))/reference.json") as! [String: Any]
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
            let model = try LoadedModel(directory: vl.appendingPathComponent(name))
            let dir = vl.appendingPathComponent(try referenceDir(name))
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
                    // The fixture keeps the uint8 tiles behind pixel_values ([tiles, 3, t, t]; checked there to
                    // reproduce pixel_values exactly through rescale + normalize with mean = std = 0.5).
                    let tiles = try Self.uint8NPY(dir.appendingPathComponent(info["pixel_values_file"] as! String))
                    let reference = Self.normalized(tiles.values)
                    XCTAssertEqual(image.pixels.count, reference.count, "\(label) pixel count \(tiles.shape)")
                    XCTAssertTrue(image.pixels == reference, "\(label): pixel values must be bit-exact")
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

    /// A C-order `|u1` .npy file.
    static func uint8NPY(_ url: URL) throws -> (shape: [Int], values: [UInt8]) {
        let bytes = [UInt8](try Data(contentsOf: url))
        guard bytes.count > 10, bytes[6] == 1 else { throw NPYArray.Failure.malformed("expected npy 1.x") }
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + length)], as: UTF8.self)
        guard header.contains("'|u1'"), let open = header.range(of: "'shape': ("),
              let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw NPYArray.Failure.malformed("expected a uint8 array: \(header)")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let values = Array(bytes[(10 + length)...])
        guard values.count == shape.reduce(1, *) else { throw NPYArray.Failure.malformed("size") }
        return (shape, values)
    }

    /// transformers' rescale (float64 multiply, cast to float32) and normalize (float32) with mean = std = 0.5
    /// (the same for every channel).
    static func normalized(_ u8: [UInt8]) -> [Float] {
        u8.map { v in (Float(Double(v) * (1.0 / 255.0)) - Float(0.5)) / Float(0.5) }
    }

    func testPromptIdsLogitsAndGreedyContinuation() throws {
        for name in Self.models {
            let model = try LoadedModel(directory: vl.appendingPathComponent(name))
            let dir = vl.appendingPathComponent(try referenceDir(name))
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

    // MARK: SmolVLM geometry

    func testSmolVLMSizesAndPromptLayoutMatchTransformers() throws {
        let name = "smolvlm-v5"
        let model = try LoadedModel(directory: vl.appendingPathComponent(name))
        let vision = try XCTUnwrap(model.vision as? SmolVLMPipeline)
        for c in try cases(name) {
            for info in c["images"] as? [[String: Any]] ?? [] {
                let image = try ImageDecoder.decode(path: vl.appendingPathComponent(info["path"] as! String).path,
                                                    limits: ImageLimits())
                let first = SmolVLMSizes.longestEdge(height: image.height, width: image.width, maxLen: 384)
                XCTAssertEqual([first.height, first.width], info["resized_longest_edge"] as? [Int])
                let tiled = SmolVLMSizes.wholeTiles(height: first.height, width: first.width, tile: 96)
                XCTAssertEqual([tiled.height, tiled.width], info["resized_for_tiles"] as? [Int])
                let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height,
                                                  settings: ImageSettings())
                XCTAssertEqual(prepared.grid, [info["num_tiles"] as! Int, info["rows"] as! Int, info["cols"] as! Int])
            }
        }
        // The layout string, as transformers' `get_image_prompt_string(2, 1, 9, ...)` writes it.
        let run = String(repeating: "<image>", count: 9)
        XCTAssertEqual(vision.promptString(rows: 2, cols: 1),
                       "<fake_token_around_image><row_1_col_1>\(run)\n<fake_token_around_image><row_2_col_1>\(run)\n"
                       + "\n<fake_token_around_image><global-img>\(run)<fake_token_around_image>")
        XCTAssertEqual(vision.promptString(rows: 0, cols: 0),
                       "<fake_token_around_image><global-img>\(run)<fake_token_around_image>")
    }

    func testBucketedPositionIDsMatchTorch() {
        // torch.bucketize(clamp(arange(n) * (1 / n), max=1-1e-6), arange(1/n, 1, 1/n), right=True) for a full
        // n x n grid (transformers' Idefics3VisionEmbeddings), from torch 2.15: not the identity for every n.
        let torch: [Int: [Int]] = [
            19: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 13, 14, 15, 16, 17, 18],
            25: [0, 1, 2, 3, 4, 4, 6, 7, 8, 8, 9, 10, 11, 12, 14, 14, 16, 17, 17, 19, 19, 21, 22, 22, 24],
            26: Array(0..<26), 32: Array(0..<32), 12: Array(0..<12),
        ]
        for (n, axis) in torch {
            let ids = SigLIPTower.bucketedPositionIDs(rows: n, cols: n, side: n)
            XCTAssertEqual(ids, axis.flatMap { r in axis.map { r * n + $0 } }, "n = \(n)")
        }
    }

    func testSmolVLMBudgetSettings() throws {
        let model = try LoadedModel(directory: vl.appendingPathComponent("smolvlm-v5"))
        let vision = try XCTUnwrap(model.vision)
        // photo.jpg 333 x 517: 4 x 3 tiles + global = 117 tokens by default. Longest edge 192: 192 x 124, then
        // 192 x 192 for the tiles, 2 x 2 + global = 45 (sizes from transformers' SmolVLMImageProcessorPil with
        // size.longest_edge 192). No split: the global tile alone, 9.
        XCTAssertEqual(try vision.tokenCount(width: 333, height: 517, settings: ImageSettings()), 117)
        XCTAssertEqual(try vision.tokenCount(width: 333, height: 517, settings: ImageSettings(longestEdge: 192)), 45)
        XCTAssertEqual(try vision.tokenCount(width: 333, height: 517, settings: ImageSettings(splitImages: false)), 9)
    }
}
