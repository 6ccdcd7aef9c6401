import Foundation
import XCTest
@testable import Inference
import Models
import TestSupport

/// SmolVLM from its GGUF pair (Scripts/fixtures/make_gguf_smolvlm_fixtures.py: text model and `idefics3`
/// mmproj by llama.cpp's convert_hf_to_gguf.py) through the engine, against llama.cpp's run on the same
/// files (libmtmd via llama-cpp-python, F32 KV cache): the rendered prompt, the prompt's ids with the image
/// rows in place, the image token count before any work, and 20 greedy tokens — text only, a 288x384 image
/// llama.cpp does not resize (3 x 4 tiles + overview), one it resizes (141x217 -> 250x384 -> 288x384) and a
/// wide one (4 x 1 tiles), with the F32 and the F16 mmproj; and two images in one message.
final class GGUFSmolVLMEngineTests: XCTestCase {
    static let dir = Fixtures.url("gguf-vl")

    struct Chunk: Decodable { var tokens: Int }
    struct F16: Decodable { var greedy_new_ids: [Int] }
    struct Case: Decodable {
        var image: String?
        var prompt: String
        var ids: [Int]
        var image_token_id: Int
        var chunks: [Chunk]
        var greedy_new_ids: [Int]
        var default_settings_greedy_new_ids: [Int]
        var mmproj_f16: F16?
    }
    struct TwoImages: Decodable {
        var images: [String]; var prompt: String; var ids: [Int]; var image_tokens: [Int]; var greedy_new_ids: [Int]
    }
    struct Reference: Decodable {
        var text_model: String; var mmproj: String; var mmproj_f16: String; var user_text: String
        var cases: [Case]; var two_images: TwoImages
    }

    static func reference() throws -> Reference {
        let url = dir.appendingPathComponent("smolvlm-reference.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: url.path), "gguf-vl smolvlm fixtures missing")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    private func run(_ engine: InferenceEngine, _ messages: [ChatMessage], images: [String], tokens: Int)
        async throws -> (prompt: [Int], counts: [Int], tokens: [Int]?) {
        var request = GenerationRequest(prompt: .chat(messages))
        request.images = images.map { Fixtures.url($0).path }
        request.sampling.temperature = 0
        request.maxTokens = tokens
        request.ignoreEOS = true
        var counts: [Int] = [], prompt: [Int] = [], out: [Int]?
        for try await event in await engine.generate(request) {
            if case let .prompt(ids, _, imageTokens) = event { prompt = ids; counts = imageTokens }
            if case let .done(cands, _, _) = event { out = cands.first?.tokens }
        }
        return (prompt, counts, out)
    }

    func testGreedyTokensMatchLlamaCpp() async throws {
        let ref = try Self.reference()
        XCTAssertEqual(ref.cases.count, 4)
        // The F32 mmproj is found beside the text model (the closest name of the three there).
        let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model))
        XCTAssertEqual(engine.model.mmproj?.lastPathComponent, ref.mmproj)
        XCTAssertTrue(engine.model.isMultimodal)
        let f16 = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model),
                                      options: EngineOptions(mmproj: Self.dir.appendingPathComponent(ref.mmproj_f16)))
        for c in ref.cases {
            let label = c.image ?? "text only"
            var parts: [ContentPart] = []
            if c.image != nil { parts.append(.image) }
            parts.append(.text(ref.user_text))
            let messages = [ChatMessage(role: "user", parts: parts)]
            XCTAssertEqual(try engine.renderChat(messages), c.prompt, "\(label) rendering")
            await engine.resetContext()
            let r = try await run(engine, messages, images: c.image.map { [$0] } ?? [], tokens: c.greedy_new_ids.count)
            XCTAssertEqual(r.prompt, c.ids, "\(label) prompt ids")
            XCTAssertEqual(r.tokens, c.greedy_new_ids, "\(label) greedy")
            guard let path = c.image else { continue }
            // llama.cpp's defaults (f16 KV cache, flash attention) give the same tokens on the image cases.
            XCTAssertEqual(c.default_settings_greedy_new_ids, c.greedy_new_ids, label)
            let total = c.chunks.reduce(0) { $0 + $1.tokens }
            XCTAssertEqual(r.counts, [total], label)
            XCTAssertEqual(r.prompt.filter { $0 == c.image_token_id }.count, total, label)
            let size = try imageSize(Fixtures.url(path))
            XCTAssertEqual(try engine.imageTokenCost(width: size.0, height: size.1), total, label)
            // The F16 mmproj, as published ones are.
            let expected = try XCTUnwrap(c.mmproj_f16?.greedy_new_ids, label)
            await f16.resetContext()
            let h = try await run(f16, messages, images: [path], tokens: expected.count)
            XCTAssertEqual(h.prompt, c.ids, "\(label) F16 prompt ids")
            XCTAssertEqual(h.tokens, expected, "\(label) F16 greedy")
        }
    }

    /// Two images in one message: each laid out in turn (13 chunks of 9 rows each).
    func testTwoImagesMatchLlamaCpp() async throws {
        let ref = try Self.reference()
        let c = ref.two_images
        let engine = try InferenceEngine(directory: Self.dir.appendingPathComponent(ref.text_model))
        let messages = [ChatMessage(role: "user", parts: c.images.map { _ in ContentPart.image } + [.text(ref.user_text)])]
        XCTAssertEqual(try engine.renderChat(messages), c.prompt)
        let r = try await run(engine, messages, images: c.images, tokens: c.greedy_new_ids.count)
        XCTAssertEqual(r.prompt, c.ids, "two images: prompt ids")
        XCTAssertEqual(c.image_tokens, [Int](repeating: 9, count: 26))
        XCTAssertEqual(r.counts, [117, 117])
        XCTAssertEqual(r.tokens, c.greedy_new_ids, "two images: greedy")
    }

    private func imageSize(_ url: URL) throws -> (Int, Int) {
        // PNG IHDR: width and height, big-endian, at bytes 16..<24.
        let d = try Data(contentsOf: url)
        func be(_ o: Int) -> Int { d[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }
}
