import Foundation
import ImageProcessing
import ModelFormats
import XCTest
@testable import Models
import TestSupport

/// MiniCPM-V 2.6 from a GGUF pair (Tests/Fixtures/gguf-minicpmv, Scripts/fixtures/make_gguf_minicpmv_fixtures.py:
/// the mmproj written by llama.cpp's minicpmv-convert-image-encoder-to-gguf.py) against llama.cpp's run on
/// the same files: slicing (mtmd's chunks), the prompt's token ids with the image rows in place, and the
/// projector's output rows of each image (the F16 mmproj, as published).
final class GGUFMiniCPMVTests: XCTestCase {
    static let dir = Fixtures.url("gguf-minicpmv")

    struct Chunk: Decodable { var text: [Int]?; var image_tokens: Int?; var features: [Float]? }
    struct Case: Decodable {
        var image: String?
        var prompt: String
        var ids: [Int]
        var image_token_id: Int
        var chunks: [Chunk]
        var image_tokens: Int
    }
    struct Reference: Decodable { var text_model: String; var mmproj: String; var image_text: String; var cases: [Case] }

    static func reference() throws -> Reference {
        let url = dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-minicpmv fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    private func load(_ ref: Reference) throws -> (LoadedModel, MiniCPMVPipeline) {
        let model = try LoadedModel(gguf: Self.dir.appendingPathComponent(ref.text_model),
                                    mmproj: Self.dir.appendingPathComponent(ref.mmproj))
        XCTAssertEqual(model.modelType, "qwen2")
        XCTAssertEqual(model.familyName, "MiniCPM-V (GGUF)")
        return (model, try XCTUnwrap(model.vision as? MiniCPMVPipeline))
    }

    /// Measured: nmse ~6e-8, max |diff| ~1.5e-3 on values up to ~4.4, on all three images (the one taken
    /// as is too, so not the resize). That is the floor of emulating llama.cpp's f16 steps (the input of
    /// every product with an F16 matrix rounded to f16, as ggml's CPU mul_mat does; pixels through the
    /// F16 im2col; the f16-table GELU): f32 differences of an ulp flip an f16 rounding now and then, and
    /// those flips grow through the blocks (a numpy replay of llama.cpp's graph lands at 8e-8 too, its
    /// dumped intermediates agreeing to 1e-14 up to the first f16-rounded product). Without the f16
    /// rounding the error is 1.2e-7.
    func testFeaturesMatchLlamaCpp() throws {
        let ref = try Self.reference()
        let (_, vision) = try load(ref)
        var checked = 0
        for c in ref.cases {
            guard let path = c.image else { continue }
            let image = try ImageDecoder.decode(path: Fixtures.url(path).path, limits: ImageLimits())
            let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height, settings: ImageSettings())
            XCTAssertEqual(prepared.tokenCount, c.image_tokens, path)
            XCTAssertEqual(try vision.tokenCount(width: image.width, height: image.height, settings: ImageSettings()), c.image_tokens)
            let imageChunks = c.chunks.filter { $0.image_tokens != nil }
            XCTAssertEqual(prepared.grid[0], imageChunks.count, "\(path): overview + slices")
            guard imageChunks.allSatisfy({ $0.features != nil }) else { continue }
            let expected = imageChunks.flatMap { $0.features! }
            let features = try vision.encode(prepared)
            XCTAssertEqual(features.count, expected.count)
            guard features.count == expected.count else { continue }
            let d = closeness(features, expected)
            let scale = max(1, expected.map(abs).max() ?? 1)
            XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * scale, "\(path): \(d)")
            XCTAssertLessThanOrEqual(d.nmse, 3e-7, "\(path): \(d)")

            checked += 1
        }
        XCTAssertEqual(checked, 3)
    }

    /// The expanded prompt tokenizes to llama.cpp's ids (mtmd's text chunks around the image chunks).
    func testPromptIdsMatchLlamaCpp() throws {
        let ref = try Self.reference()
        let (model, vision) = try load(ref)
        for c in ref.cases {
            guard let path = c.image else { continue }
            XCTAssertTrue(c.prompt.contains(ref.image_text))
            let image = try ImageDecoder.decode(path: Fixtures.url(path).path, limits: ImageLimits())
            let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height, settings: ImageSettings())
            let text = try vision.expandPlaceholders(in: c.prompt, images: [prepared])
            let ids = model.tokenizer.encode(text, addSpecialTokens: false)
            XCTAssertEqual(vision.imageTokenID, c.image_token_id)
            XCTAssertEqual(ids, c.ids, path)
        }
    }

    /// llama.cpp's slicing on hand-checked sizes.
    func testSlicingPlans() throws {
        let s = MiniCPMVSlicing(sliceSize: 448, patchSize: 14)
        // Within 448 x 448: one overview stretched to the slice size.
        var p = try s.plan(width: 300, height: 200)
        XCTAssertEqual(p.overview, .init(width: 448, height: 448))
        XCTAssertNil(p.refined)
        // 1000 x 500: ratio 2.49 -> multiple 3; log(2) is closest to a 2x1 grid (2 of the candidates 2, 3, 4).
        p = try s.plan(width: 1000, height: 500)
        XCTAssertEqual(p.cols, 2)
        XCTAssertEqual(p.rows, 1)
        // overview: r = 2, h = int(448 / 1.414) = 316, w = 632 -> multiples of 14: 630 x 322.
        XCTAssertEqual(p.overview, .init(width: 630, height: 322))
        // refined: cells 500 x 500 -> 448 x 448 each.
        XCTAssertEqual(p.refined, .init(width: 896, height: 448))
        XCTAssertEqual(p.slices.map(\.x), [0, 448])
        // The fixture's small slice size: 300 x 100 -> 3 x 1 slices of 112 and a 196 x 70 overview.
        let t = MiniCPMVSlicing(sliceSize: 112, patchSize: 14)
        p = try t.plan(width: 300, height: 100)
        XCTAssertEqual([p.cols, p.rows], [3, 1])
        XCTAssertEqual(p.overview, .init(width: 196, height: 70))
        XCTAssertEqual(p.refined, .init(width: 336, height: 112))
        XCTAssertThrowsError(try t.plan(width: 0, height: 10))
    }

    /// clip.cpp's buckets: floor(70 i / n).
    func testPositionBuckets() {
        XCTAssertEqual(MiniCPMVPipeline.positionIDs(rows: 1, cols: 3, side: 70), [0, 23, 46])
        XCTAssertEqual(MiniCPMVPipeline.positionIDs(rows: 2, cols: 1, side: 70), [0, 35 * 70])
    }

    private func copy(_ name: String, to dir: URL, as newName: String? = nil, patch: (String, String)? = nil) throws -> URL {
        var data = try Data(contentsOf: Self.dir.appendingPathComponent(name))
        if let (from, to) = patch {
            let a = Data(from.utf8), b = Data(to.utf8)
            precondition(a.count == b.count)
            let range = try XCTUnwrap(data.range(of: a), "\(from) not in \(name)")
            data.replaceSubrange(range, with: b)
        }
        let url = dir.appendingPathComponent(newName ?? name)
        try data.write(to: url)
        return url
    }

    func testMalformedMmprojIsAOneLineError() throws {
        let ref = try Self.reference()
        let tmp = try Fixtures.temporaryDirectory("minicpmv")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let text = Self.dir.appendingPathComponent(ref.text_model)
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        func check(_ m: String, _ parts: String..., file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertFalse(m.contains("\n"), m, file: file, line: line)
            for p in parts { XCTAssertTrue(m.contains(p), "\(p) not in: \(m)", file: file, line: line) }
        }
        // A resampler tensor missing (renamed in a copy).
        let noQuery = try copy(ref.mmproj, to: tmp, as: "a.gguf", patch: ("resampler.ln_kv.bias", "resampler.ln_xx.bias"))
        check(message { try LoadedModel(gguf: text, mmproj: noQuery) }, "resampler.ln_kv.bias", "a.gguf")
        // A SigLIP block tensor missing.
        let noBlock = try copy(ref.mmproj, to: tmp, as: "b.gguf", patch: ("v.blk.1.attn_out.bias", "v.blk.1.attn_xxx.bias"))
        check(message { try LoadedModel(gguf: text, mmproj: noBlock) }, "v.blk.1.attn_out.bias", "b.gguf")
        // A version llama.cpp does not know (the int32 1 -> the metadata key renamed so that the default 2 applies
        // is fine; a wrong projector name is refused).
        let other = try copy(ref.mmproj, to: tmp, as: "c.gguf", patch: ("resampler", "resamplez"))
        check(message { try LoadedModel(gguf: text, mmproj: other) }, "projector 'resamplez' is not supported", "c.gguf")
        // The MiniCPM-V mmproj with a text model of another width, and with a Qwen2-VL text model.
        check(message { try LoadedModel(gguf: Fixtures.url("gguf-models/qwen2-f32.gguf"), mmproj: Self.dir.appendingPathComponent(ref.mmproj)) },
              "does not match the text model's embedding length")
        check(message { try LoadedModel(gguf: Fixtures.url("gguf-vl/qwen2-vl-f32.gguf"), mmproj: Self.dir.appendingPathComponent(ref.mmproj)) },
              "needs a qwen2 or llama text model")
        // A truncated file.
        let data = try Data(contentsOf: Self.dir.appendingPathComponent(ref.mmproj))
        let cut = tmp.appendingPathComponent("cut.gguf")
        try data.prefix(data.count / 2).write(to: cut)
        check(message { try LoadedModel(gguf: text, mmproj: cut) }, "cut.gguf")
        // Found beside the text model: the pair loads without --mmproj.
        let beside = try LoadedModel(gguf: text)
        XCTAssertEqual(beside.mmproj?.lastPathComponent, ref.mmproj)
        XCTAssertTrue(beside.vision is MiniCPMVPipeline)
        // A plain Qwen2 GGUF stays a text model.
        XCTAssertNil(try LoadedModel(gguf: Fixtures.url("gguf-models/qwen2-f32.gguf")).vision)
        // ... also in a folder where another model's mmproj lies (a width that does not fit): found beside,
        // not asked for, it is left alone; given with --mmproj, the mismatch is the error above.
        let folder = tmp.appendingPathComponent("downloads")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("gguf-models/qwen2-f32.gguf"), to: folder.appendingPathComponent("qwen2-f32.gguf"))
        try FileManager.default.copyItem(at: Self.dir.appendingPathComponent(ref.mmproj), to: folder.appendingPathComponent(ref.mmproj))
        let plain = try LoadedModel(gguf: folder.appendingPathComponent("qwen2-f32.gguf"))
        XCTAssertNil(plain.vision)
        XCTAssertNil(plain.mmproj)
        XCTAssertNil(plain.missingVisionPart)
    }
}
