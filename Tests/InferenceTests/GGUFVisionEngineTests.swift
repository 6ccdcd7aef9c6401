import Foundation
import XCTest
@testable import Inference
import Models
import TestSupport

/// Qwen2-VL / Qwen2.5-VL from a GGUF text model + llama.cpp mmproj pair (Scripts/fixtures/make_gguf_vl_fixtures.py:
/// converted by llama.cpp's convert_hf_to_gguf.py) against llama.cpp's own run on the same pair (libmtmd via
/// llama-cpp-python, F32 KV cache): the prompt ids (image tokens in place), the image's token grid and the
/// 20 greedy tokens, for an image llama.cpp takes as is (112x84) and one it resizes (141x217 -> 140x224).
final class GGUFVisionEngineTests: XCTestCase {
    static let dir = Fixtures.url("gguf-vl")

    struct Case: Decodable {
        struct Image: Decodable { var tokens: Int; var nx: Int; var ny: Int; var n_pos: Int }
        var image: String?
        var prompt: String
        var ids: [Int]
        var image_token_id: Int
        var images: [Image]
        var greedy_new_ids: [Int]
        var default_settings_greedy_new_ids: [Int]
    }
    struct F16Case: Decodable { var image: String; var ids: [Int]; var greedy_new_ids: [Int] }
    struct F16: Decodable { var file: String; var cases: [F16Case] }
    struct TwoImages: Decodable {
        var images: [String]; var prompt: String; var ids: [Int]; var image_tokens: [Int]; var greedy_new_ids: [Int]
    }
    struct Model: Decodable {
        var text_model: String; var mmproj: String; var cases: [Case]; var two_images: TwoImages; var mmproj_f16: F16
    }
    struct Reference: Decodable { var user_text: String; var models: [String: Model] }

    static func reference() throws -> Reference {
        let url = dir.appendingPathComponent("reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-vl fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func testGreedyTokensMatchLlamaCpp() async throws {
        let ref = try Self.reference()
        XCTAssertEqual(ref.models.count, 2)
        for (name, m) in ref.models.sorted(by: { $0.key < $1.key }) {
            // The mmproj is found beside the text model (two are there: the name decides).
            let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(m.text_model))
            XCTAssertEqual(engine.model.mmproj?.lastPathComponent, m.mmproj, name)
            XCTAssertTrue(engine.model.isMultimodal, name)
            for c in m.cases {
                let label = "\(name) \(c.image ?? "text only")"
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
                let result = try await engine.complete(request)
                XCTAssertEqual(result.prompt, c.ids, "\(label) prompt ids")
                XCTAssertEqual(result.candidates.first?.tokens, c.greedy_new_ids, "\(label) greedy")
                // llama.cpp's defaults (f16 KV cache, flash attention) give the same tokens on these cases.
                XCTAssertEqual(c.default_settings_greedy_new_ids, c.greedy_new_ids, label)
                if let image = c.images.first, let path = c.image {
                    XCTAssertEqual(result.prompt.filter { $0 == c.image_token_id }.count, image.tokens, "\(label) image tokens")
                    let size = try imageSize(Fixtures.url(path))
                    XCTAssertEqual(try engine.imageTokenCost(width: size.0, height: size.1), image.tokens, label)
                }
            }
        }
    }

    /// Two images in one message: the text after each image resumes at its start + max(nx, ny), in
    /// llama.cpp (mtmd's n_pos) as in transformers' get_rope_index.
    func testTwoImagesMatchLlamaCpp() async throws {
        let ref = try Self.reference()
        for (name, m) in ref.models.sorted(by: { $0.key < $1.key }) {
            let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(m.text_model))
            let c = m.two_images
            let messages = [ChatMessage(role: "user", parts: c.images.map { _ in ContentPart.image } + [.text(ref.user_text)])]
            XCTAssertEqual(try engine.renderChat(messages), c.prompt, name)
            var request = GenerationRequest(prompt: .chat(messages))
            request.images = c.images.map { Fixtures.url($0).path }
            request.sampling.temperature = 0
            request.maxTokens = c.greedy_new_ids.count
            request.ignoreEOS = true
            var counts: [Int] = []
            var tokens: [Int]?
            var prompt: [Int] = []
            for try await event in await engine.generate(request) {
                if case let .prompt(ids, _, imageTokens) = event { prompt = ids; counts = imageTokens }
                if case let .done(cands, _, _) = event { tokens = cands.first?.tokens }
            }
            XCTAssertEqual(prompt, c.ids, "\(name) two images: prompt ids")
            XCTAssertEqual(counts, c.image_tokens, "\(name) two images: image tokens")
            XCTAssertEqual(tokens, c.greedy_new_ids, "\(name) two images: greedy")
        }
    }

    /// The F16 mmproj files (what published mmproj files are): llama.cpp's greedy tokens again. (llama.cpp
    /// rounds the activations to f16 for F16 matrices, Squint keeps them f32; the tokens agree here.)
    func testF16MmprojMatchesLlamaCpp() async throws {
        let ref = try Self.reference()
        for (name, m) in ref.models.sorted(by: { $0.key < $1.key }) {
            let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(m.text_model),
                                             options: EngineOptions(mmproj: Self.dir.appendingPathComponent(m.mmproj_f16.file)))
            XCTAssertEqual(engine.model.mmproj?.lastPathComponent, m.mmproj_f16.file)
            for c in m.mmproj_f16.cases {
                await engine.resetContext()
                var request = GenerationRequest(prompt: .chat([ChatMessage(role: "user", parts: [.image, .text(ref.user_text)])]))
                request.images = [Fixtures.url(c.image).path]
                request.sampling.temperature = 0
                request.maxTokens = c.greedy_new_ids.count
                request.ignoreEOS = true
                let result = try await engine.complete(request)
                XCTAssertEqual(result.prompt, c.ids, "\(name) f16 \(c.image) prompt ids")
                XCTAssertEqual(result.candidates.first?.tokens, c.greedy_new_ids, "\(name) f16 \(c.image) greedy")
            }
        }
    }

    private func imageSize(_ url: URL) throws -> (Int, Int) {
        // PNG IHDR: width and height, big-endian, at bytes 16..<24.
        let d = try Data(contentsOf: url)
        func be(_ o: Int) -> Int { d[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }
}
