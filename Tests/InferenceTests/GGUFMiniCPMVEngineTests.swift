import Foundation
import XCTest
@testable import Inference
import Models
import TestSupport

/// MiniCPM-V 2.6 from its GGUF pair (Scripts/fixtures/make_gguf_minicpmv_fixtures.py) through the engine,
/// against llama.cpp's run on the same files (libmtmd via llama-cpp-python, F32 KV cache): the rendered
/// prompt (MiniCPM-V's string-content template, the image as "(<image>./</image>)"), the prompt's ids with
/// the image rows in place, the image token count before any work, and 20 greedy tokens — text only, an
/// image taken as is, one stretched to the slice size, and two sliced ones (3x1, 1x3 grids).
final class GGUFMiniCPMVEngineTests: XCTestCase {
    static let dir = Fixtures.url("gguf-minicpmv")

    struct Case: Decodable {
        var image: String?
        var prompt: String
        var ids: [Int]
        var image_token_id: Int
        var image_tokens: Int
        var greedy_new_ids: [Int]
        var default_settings_greedy_new_ids: [Int]
    }
    struct V25Case: Decodable { var image: String; var ids: [Int]; var image_tokens: Int; var greedy_new_ids: [Int] }
    struct V25: Decodable { var cases: [V25Case] }
    struct TwoImages: Decodable {
        var images: [String]; var prompt: String; var ids: [Int]; var image_tokens: [Int]; var greedy_new_ids: [Int]
    }
    struct Reference: Decodable {
        var text_model: String; var mmproj: String; var user_text: String; var cases: [Case]; var v25_layout: V25
        var two_images: TwoImages
    }

    static func reference() throws -> Reference {
        let url = dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-minicpmv fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func testGreedyTokensMatchLlamaCpp() async throws {
        let ref = try Self.reference()
        XCTAssertEqual(ref.cases.count, 5)
        // The mmproj is found beside the text model.
        let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model))
        XCTAssertEqual(engine.model.mmproj?.lastPathComponent, ref.mmproj)
        XCTAssertTrue(engine.model.isMultimodal)
        for c in ref.cases {
            let label = c.image ?? "text only"
            await engine.resetContext()
            var parts: [ContentPart] = []
            if c.image != nil { parts.append(.image) }
            parts.append(.text(ref.user_text))
            let messages = [ChatMessage(role: "user", parts: parts)]
            XCTAssertEqual(try engine.renderChat(messages), c.prompt, "\(label) rendering")
            var request = GenerationRequest(prompt: .chat(messages))
            request.images = c.image.map { [Fixtures.url($0).path] } ?? []
            request.sampling.temperature = 0
            request.maxTokens = c.greedy_new_ids.count
            request.ignoreEOS = true
            var counts: [Int] = []
            var prompt: [Int] = []
            var tokens: [Int]?
            for try await event in await engine.generate(request) {
                if case let .prompt(ids, _, imageTokens) = event { prompt = ids; counts = imageTokens }
                if case let .done(cands, _, _) = event { tokens = cands.first?.tokens }
            }
            XCTAssertEqual(prompt, c.ids, "\(label) prompt ids")
            XCTAssertEqual(tokens, c.greedy_new_ids, "\(label) greedy")
            // llama.cpp's defaults (f16 KV cache, flash attention) give the same tokens on these cases.
            XCTAssertEqual(c.default_settings_greedy_new_ids, c.greedy_new_ids, label)
            if let path = c.image {
                XCTAssertEqual(counts, [c.image_tokens], label)
                XCTAssertEqual(prompt.filter { $0 == c.image_token_id }.count, c.image_tokens, label)
                let size = try imageSize(Fixtures.url(path))
                XCTAssertEqual(try engine.imageTokenCost(width: size.0, height: size.1), c.image_tokens, label)
            }
        }
    }

    /// A follow-up turn about the same picture reuses its features and the cached prefix.
    func testSecondTurnReusesTheImage() async throws {
        let ref = try Self.reference()
        let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model))
        let image = try XCTUnwrap(ref.cases.first { $0.image?.contains("wide") ?? false })
        var request = GenerationRequest(prompt: .chat([ChatMessage(role: "user", parts: [.image, .text(ref.user_text)])]))
        request.images = [Fixtures.url(image.image!).path]
        request.sampling.temperature = 0
        request.maxTokens = 4
        let first = try await engine.complete(request)
        XCTAssertEqual(first.candidates.first?.tokens, Array(image.greedy_new_ids.prefix(first.candidates.first?.tokens.count ?? 0)))
        XCTAssertEqual(first.timings.imagesEncoded, 1)
        let again = try await engine.complete(request)
        XCTAssertEqual(again.candidates.first?.tokens, first.candidates.first?.tokens)
        XCTAssertEqual(again.timings.imagesEncoded, 0)
        XCTAssertEqual(again.timings.imagesCached, 1)
        XCTAssertGreaterThanOrEqual(again.timings.reusedTokens, first.prompt.count - 1)
    }

    /// Two images in one message: each laid out in turn (one overview; overview + 3 slices).
    func testTwoImagesMatchLlamaCpp() async throws {
        let ref = try Self.reference()
        let c = ref.two_images
        let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model))
        let messages = [ChatMessage(role: "user", parts: c.images.map { _ in ContentPart.image } + [.text(ref.user_text)])]
        XCTAssertEqual(try engine.renderChat(messages), c.prompt)
        var request = GenerationRequest(prompt: .chat(messages))
        request.images = c.images.map { Fixtures.url($0).path }
        request.sampling.temperature = 0
        request.maxTokens = c.greedy_new_ids.count
        request.ignoreEOS = true
        var counts: [Int] = []
        var prompt: [Int] = []
        var tokens: [Int]?
        for try await event in await engine.generate(request) {
            if case let .prompt(ids, _, imageTokens) = event { prompt = ids; counts = imageTokens }
            if case let .done(cands, _, _) = event { tokens = cands.first?.tokens }
        }
        XCTAssertEqual(prompt, c.ids, "two images: prompt ids")
        // llama.cpp's chunks: 64 (small), then 64 x 4 (wide).
        XCTAssertEqual(c.image_tokens, [64, 64, 64, 64, 64])
        XCTAssertEqual(counts, [64, 256])
        XCTAssertEqual(tokens, c.greedy_new_ids, "two images: greedy")
    }

    /// MiniCPM-V 2.5's layout (`<slice>` around all slices, each slice in `<image>`), on a copy of the
    /// mmproj with clip.minicpmv_version patched from 3 to 2, as the fixture script patched it for llama.cpp.
    func testV25LayoutMatchesLlamaCpp() async throws {
        let ref = try Self.reference()
        let tmp = try Fixtures.temporaryDirectory("minicpmv-v25")
        defer { try? FileManager.default.removeItem(at: tmp) }
        var data = try Data(contentsOf: Self.dir.appendingPathComponent(ref.mmproj))
        var key = Data("clip.minicpmv_version".utf8) + Data([5, 0, 0, 0])
        let range = try XCTUnwrap(data.range(of: key + Data([3, 0, 0, 0])))
        key.append(contentsOf: [2, 0, 0, 0])
        data.replaceSubrange(range, with: key)
        let mmproj = tmp.appendingPathComponent("mmproj-v25.gguf")
        try data.write(to: mmproj)
        let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model),
                                         options: EngineOptions(mmproj: mmproj))
        XCTAssertEqual(ref.v25_layout.cases.count, 3)
        for c in ref.v25_layout.cases {
            await engine.resetContext()
            var request = GenerationRequest(prompt: .chat([ChatMessage(role: "user", parts: [.image, .text(ref.user_text)])]))
            request.images = [Fixtures.url(c.image).path]
            request.sampling.temperature = 0
            request.maxTokens = c.greedy_new_ids.count
            request.ignoreEOS = true
            let result = try await engine.complete(request)
            XCTAssertEqual(result.prompt, c.ids, "2.5 layout \(c.image) prompt ids")
            XCTAssertEqual(result.candidates.first?.tokens, c.greedy_new_ids, "2.5 layout \(c.image) greedy")
        }
    }

    private func imageSize(_ url: URL) throws -> (Int, Int) {
        // PNG IHDR: width and height, big-endian, at bytes 16..<24.
        let d = try Data(contentsOf: url)
        func be(_ o: Int) -> Int { d[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }
}
