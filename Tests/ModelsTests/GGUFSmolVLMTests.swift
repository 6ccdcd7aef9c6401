import Foundation
import ImageProcessing
import ModelFormats
import XCTest
@testable import Models
import TestSupport

/// SmolVLM from a GGUF pair (Tests/Fixtures/gguf-vl/smolvlm-*, Scripts/fixtures/make_gguf_smolvlm_fixtures.py:
/// text model and `idefics3` mmproj written by llama.cpp's convert_hf_to_gguf.py) against llama.cpp's run
/// on the same files: tiles (mtmd's image chunks), the prompt's token ids with the image rows in place, and
/// the projector's output rows of every tile, F32 and F16 mmproj.
final class GGUFSmolVLMTests: XCTestCase {
    static let dir = Fixtures.url("gguf-vl")

    struct Chunk: Decodable { var tokens: Int; var features: [Float]? }
    struct F16: Decodable { var greedy_new_ids: [Int]; var chunk_features: [[Float]]? }
    struct Case: Decodable {
        var image: String?
        var prompt: String
        var ids: [Int]
        var image_token_id: Int
        var chunks: [Chunk]
        var mmproj_f16: F16?
    }
    struct Reference: Decodable { var text_model: String; var mmproj: String; var mmproj_f16: String; var cases: [Case] }

    static func reference() throws -> Reference {
        let url = dir.appendingPathComponent("smolvlm-reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-vl smolvlm fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    private func load(_ ref: Reference, mmproj: String? = nil) throws -> (LoadedModel, SmolVLMPipeline) {
        let model = try LoadedModel(gguf: Self.dir.appendingPathComponent(ref.text_model),
                                    mmproj: Self.dir.appendingPathComponent(mmproj ?? ref.mmproj))
        XCTAssertEqual(model.modelType, "llama")
        XCTAssertEqual(model.familyName, "SmolVLM (GGUF)")
        return (model, try XCTUnwrap(model.vision as? SmolVLMPipeline))
    }

    private func prepare(_ vision: SmolVLMPipeline, _ path: String) throws -> PreparedImage {
        let image = try ImageDecoder.decode(path: Fixtures.url(path).path, limits: ImageLimits())
        return try vision.prepare(rgb: image.pixels, width: image.width, height: image.height, settings: ImageSettings())
    }

    /// Every tile's projector rows (tiles row by row, then the overview, as mtmd's chunks).
    /// Measured: F32 mmproj nmse ~4e-8 (max |diff| ~9e-4), F16 mmproj (every matrix but the patch embedding,
    /// which the converter keeps F32; inputs rounded to f16 as ggml's mul_mat does) ~2e-7 (max ~2e-3). The
    /// floor is the GELU through ggml's f16 table: an f32 ulp of summation order flips an f16 rounding of
    /// its input now and then, as in the MiniCPM-V tower (GGUFMiniCPMVTests); a wrong weight, position or
    /// pixel is orders of magnitude above.
    func testFeaturesMatchLlamaCpp() throws {
        let ref = try Self.reference()
        for (file, bound) in [(ref.mmproj, 2e-7), (ref.mmproj_f16, 1e-6)] {
            let (_, vision) = try load(ref, mmproj: file)
            var checked = 0
            for c in ref.cases {
                guard let path = c.image else { continue }
                let prepared = try prepare(vision, path)
                let total = c.chunks.reduce(0) { $0 + $1.tokens }
                XCTAssertEqual(prepared.tokenCount, total, path)
                let image = try ImageDecoder.decode(path: Fixtures.url(path).path, limits: ImageLimits())
                XCTAssertEqual(try vision.tokenCount(width: image.width, height: image.height, settings: ImageSettings()), total)
                XCTAssertEqual(prepared.grid[0], c.chunks.count, "\(path): tiles + overview")
                let expected: [Float]
                if file == ref.mmproj {
                    expected = c.chunks.flatMap { $0.features ?? [] }
                } else {
                    guard let f = c.mmproj_f16?.chunk_features else { continue }
                    expected = f.flatMap { $0 }
                }
                let features = try vision.encode(prepared)
                XCTAssertEqual(features.count, expected.count, path)
                guard features.count == expected.count else { continue }
                let d = closeness(features, expected)
                XCTAssertLessThanOrEqual(d.nmse, bound, "\(file) \(path): \(d)")
                checked += 1
            }
            XCTAssertEqual(checked, file == ref.mmproj ? 3 : 1, file)
        }
    }

    /// The expanded prompt tokenizes to llama.cpp's ids (mtmd's text chunks around the tiles: the
    /// `<row_r_col_c>` headers, "\n" between rows, "\n\n" as one token before the overview).
    func testPromptIdsMatchLlamaCpp() throws {
        let ref = try Self.reference()
        let (model, vision) = try load(ref)
        var checked = 0
        for c in ref.cases {
            guard let path = c.image else { continue }
            let prepared = try prepare(vision, path)
            let text = try vision.expandPlaceholders(in: c.prompt, images: [prepared])
            XCTAssertEqual(vision.imageTokenID, c.image_token_id)
            XCTAssertEqual(model.tokenizer.encode(text, addSpecialTokens: true), c.ids, path)
            checked += 1
        }
        XCTAssertEqual(checked, 3)
    }

    /// clip.cpp adds the position table row by row, where transformers buckets (not the identity for
    /// every side: 25 patches is one where it is not).
    func testPositionsAreTheTableRowsInOrder() throws {
        let (_, vision) = try load(try Self.reference())
        XCTAssertEqual(vision.positionIDs, Array(0..<144))
        XCTAssertNotEqual(SigLIPTower.bucketedPositionIDs(rows: 25, cols: 25, side: 25), Array(0..<625))
    }

    /// llama.cpp's tiling against transformers' on the same sizes (tile 96, longest edge 384).
    func testTilingDiffersFromTransformersWhereLlamaCppDoes() throws {
        let ref = try Self.reference()
        let (_, vision) = try load(ref)
        func tiles(_ w: Int, _ h: Int, edge: Int?) throws -> [Int] {
            try vision.prepare(rgb: [UInt8](repeating: 128, count: w * h * 3), width: w, height: h,
                               settings: ImageSettings(longestEdge: edge)).grid
        }
        // 900 x 200 -> 384 x 86 -> 384 x 96: 4 x 1 tiles + overview.
        XCTAssertEqual(try tiles(900, 200, edge: nil), [5, 1, 4])
        // A picture that fits one tile after the rounding: llama.cpp still cuts a 1 x 1 grid plus the
        // overview, transformers keeps the overview alone (50 x 40 -> 96 x 76 -> 96 x 96).
        XCTAssertEqual(try tiles(50, 40, edge: 96), [2, 1, 1])
        XCTAssertEqual(try vision.tokenCount(width: 50, height: 40, settings: ImageSettings(longestEdge: 96)), 18)
        XCTAssert(SmolVLMSizes.wholeTiles(height: 76, width: 96, tile: 96) == (96, 96))
        // A longest edge that is not whole tiles: 400 x 190 stays 400 x 190; llama.cpp rounds each side up on
        // its own (480 x 192: 5 x 2), transformers derives the height from the rounded width (480 x 288: 5 x 3).
        XCTAssertEqual(try tiles(400, 190, edge: 400), [11, 2, 5])
        XCTAssert(SmolVLMSizes.wholeTiles(height: 190, width: 400, tile: 96) == (288, 480))
    }

    private func copy(_ name: String, to dir: URL, as newName: String, patch: (String, String)) throws -> URL {
        var data = try Data(contentsOf: Self.dir.appendingPathComponent(name))
        let a = Data(patch.0.utf8), b = Data(patch.1.utf8)
        precondition(a.count == b.count)
        let range = try XCTUnwrap(data.range(of: a), "\(patch.0) not in \(name)")
        data.replaceSubrange(range, with: b)
        let url = dir.appendingPathComponent(newName)
        try data.write(to: url)
        return url
    }

    func testMalformedMmprojIsAOneLineError() throws {
        let ref = try Self.reference()
        let tmp = try Fixtures.temporaryDirectory("smolvlm-gguf")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let text = Self.dir.appendingPathComponent(ref.text_model)
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        func check(_ m: String, _ parts: String..., file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertFalse(m.contains("\n"), m, file: file, line: line)
            for p in parts { XCTAssertTrue(m.contains(p), "\(p) not in: \(m)", file: file, line: line) }
        }
        // The connector missing (renamed in a copy).
        let noFC = try copy(ref.mmproj, to: tmp, as: "a.gguf", patch: ("mm.model.fc.weight", "mm.model.fx.weight"))
        check(message { try LoadedModel(gguf: text, mmproj: noFC) }, "mm.model.fc.weight", "a.gguf")
        // A SigLIP block tensor missing.
        let noBlock = try copy(ref.mmproj, to: tmp, as: "b.gguf", patch: ("v.blk.1.attn_out.bias", "v.blk.1.attn_xxx.bias"))
        check(message { try LoadedModel(gguf: text, mmproj: noBlock) }, "v.blk.1.attn_out.bias", "b.gguf")
        // No scale factor, no preprocessing size (keys renamed).
        let noScale = try copy(ref.mmproj, to: tmp, as: "c.gguf", patch: ("projector.scale_factor", "projector.scale_fuctor"))
        check(message { try LoadedModel(gguf: text, mmproj: noScale) }, "clip.vision.projector.scale_factor", "c.gguf")
        let noEdge = try copy(ref.mmproj, to: tmp, as: "d.gguf", patch: ("preproc_image_size", "preproc_image_sizz"))
        check(message { try LoadedModel(gguf: text, mmproj: noEdge) }, "clip.vision.preproc_image_size", "older converter", "d.gguf")
        // The SmolVLM mmproj with a text model of another kind, and a Qwen2-VL mmproj with the SmolVLM text model.
        check(message { try LoadedModel(gguf: Fixtures.url("gguf-vl/qwen2-vl-f32.gguf"), mmproj: Self.dir.appendingPathComponent(ref.mmproj)) },
              "needs a llama text model")
        check(message { try LoadedModel(gguf: text, mmproj: Self.dir.appendingPathComponent("mmproj-qwen2-vl-f32.gguf")) },
              "needs a qwen2vl text model")
        // A Llama GGUF of another width with this mmproj.
        let llama = Fixtures.url("gguf-models/llama-f32.gguf")
        if FileManager.default.fileExists(atPath: llama.path) {
            let m = message { try LoadedModel(gguf: llama, mmproj: Self.dir.appendingPathComponent(ref.mmproj)) }
            XCTAssertFalse(m.contains("\n"), m)
            XCTAssertNotEqual(m, "no error")
        }
        // A truncated file.
        let data = try Data(contentsOf: Self.dir.appendingPathComponent(ref.mmproj))
        let cut = tmp.appendingPathComponent("cut.gguf")
        try data.prefix(data.count / 2).write(to: cut)
        check(message { try LoadedModel(gguf: text, mmproj: cut) }, "cut.gguf")
        // The text model alone: a text model that says why images are refused.
        let aloneURL = tmp.appendingPathComponent(ref.text_model)
        try FileManager.default.copyItem(at: text, to: aloneURL)
        for name in ["a", "b", "c", "d", "cut"] { try FileManager.default.removeItem(at: tmp.appendingPathComponent(name + ".gguf")) }
        let alone = try LoadedModel(gguf: aloneURL)
        XCTAssertNil(alone.vision)
        XCTAssertTrue(alone.missingVisionPart?.contains("--mmproj") ?? false, alone.missingVisionPart ?? "nil")
        // A plain Llama GGUF has no vision half to miss.
        let plain = Fixtures.url("gguf-models/llama-f32.gguf")
        if FileManager.default.fileExists(atPath: plain.path) { XCTAssertNil(try LoadedModel(gguf: plain).missingVisionPart) }
        // Found beside the text model: the pair loads without --mmproj (the F32 mmproj, the closest name).
        let beside = try LoadedModel(gguf: text)
        XCTAssertEqual(beside.mmproj?.lastPathComponent, ref.mmproj)
        XCTAssertTrue(beside.vision is SmolVLMPipeline)
    }
}
