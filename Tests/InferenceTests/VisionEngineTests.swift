import Foundation
import XCTest
@testable import Inference
import TestSupport

/// Images through the whole engine: template, placeholder expansion, tokenization, vision features,
/// M-RoPE prefill, decoding; and a follow-up turn that reuses the cache and the image features.
final class VisionEngineTests: XCTestCase {
    let vl = Fixtures.url("vl")

    private func messages(_ raw: [[String: Any]]) -> (messages: [ChatMessage], images: [String]) {
        fixtureMessages(raw)
    }

    private func request(_ c: [String: Any]) -> GenerationRequest {
        let (list, images) = messages(c["messages"] as! [[String: Any]])
        var r = GenerationRequest(prompt: .chat(list))
        r.images = images
        r.sampling.temperature = 0
        r.maxTokens = (c["greedy_new_ids"] as! [Int]).count
        r.ignoreEOS = true
        return r
    }

    func testEveryCaseMatchesTransformersThroughTheEngine() async throws {
        for name in ["qwen2-vl-v4", "qwen2.5-vl-v5"] {
            let engine = try InferenceEngine(directory: vl.appendingPathComponent(name))
            let ref = try Fixtures.json("vl/\(name)/reference.json") as! [String: Any]
            for c in ref["cases"] as! [[String: Any]] {
                let label = "\(name) \(c["name"]!)"
                await engine.resetContext()
                let (list, _) = messages(c["messages"] as! [[String: Any]])
                XCTAssertEqual(try engine.renderChat(list), c["prompt"] as? String, "\(label) rendering")
                var imageTokens: [Int] = []
                var result: (candidates: [Candidate], timings: Timings)?
                var prompt: [Int] = []
                for try await event in await engine.generate(request(c)) {
                    if case let .prompt(ids, _, counts) = event { prompt = ids; imageTokens = counts }
                    if case let .done(cands, timings, _) = event { result = (cands, timings) }
                }
                XCTAssertEqual(prompt, c["input_ids"] as? [Int], "\(label) ids")
                XCTAssertEqual(imageTokens, c["image_token_counts"] as? [Int] ?? [], "\(label) image tokens")
                XCTAssertEqual(result?.candidates.first?.tokens, c["greedy_new_ids"] as? [Int], "\(label) greedy")
            }
        }
    }

    func testFollowUpTurnReusesCacheAndFeatures() async throws {
        let engine = try InferenceEngine(directory: vl.appendingPathComponent("qwen2-vl-v4"))
        let ref = try Fixtures.json("vl/qwen2-vl-v4/reference.json") as! [String: Any]
        let second = (ref["cases"] as! [[String: Any]]).first { $0["name"] as? String == "second_turn" }!
        let all = second["messages"] as! [[String: Any]]
        // Turn one: the first user message alone.
        var first = request(second)
        let (turnOne, images) = messages([all[0]])
        first.prompt = .chat(turnOne)
        first.images = images
        let a = try await engine.complete(first)
        XCTAssertEqual(a.timings.imagesEncoded, 1)
        // Turn two: the whole conversation; the picture is not encoded again, the prefix not recomputed.
        let b = try await engine.complete(request(second))
        XCTAssertEqual(b.timings.imagesEncoded, 0)
        XCTAssertEqual(b.timings.imagesCached, 1)
        XCTAssertGreaterThan(b.timings.reusedTokens, 54, "the image tokens come from the cache")
        XCTAssertEqual(b.prompt, second["input_ids"] as? [Int])
        XCTAssertEqual(b.candidates[0].tokens, second["greedy_new_ids"] as? [Int], "same reply as a cold run")
    }

    func testBadImagesGiveClearErrors() async throws {
        let engine = try InferenceEngine(directory: vl.appendingPathComponent("qwen2-vl-v4"))
        let dir = try Fixtures.temporaryDirectory("badimg")
        defer { try? FileManager.default.removeItem(at: dir) }
        let truncated = dir.appendingPathComponent("cut.jpg")
        let jpeg = try Data(contentsOf: vl.appendingPathComponent("images/photo.jpg"))
        try jpeg.prefix(jpeg.count / 3).write(to: truncated)
        for path in [truncated.path, dir.appendingPathComponent("missing.png").path] {
            var r = GenerationRequest(prompt: .chat([ChatMessage(role: "user", parts: [.image, .text("hi")])]))
            r.images = [path]
            r.maxTokens = 1
            do {
                _ = try await engine.complete(r)
                XCTFail("expected an error for \(path)")
            } catch {
                XCTAssertTrue("\(error)".contains(path), "the error names the file: \(error)")
            }
        }
        // The engine still works afterwards.
        var ok = GenerationRequest(prompt: .raw("hello"))
        ok.maxTokens = 2
        let r = try await engine.complete(ok)
        XCTAssertEqual(r.candidates[0].tokens.count, 2)
    }
}
