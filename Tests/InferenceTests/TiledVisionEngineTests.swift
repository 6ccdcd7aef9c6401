import Foundation
import XCTest
@testable import Inference
import TestSupport

/// LLaVA-OneVision and SmolVLM through the whole engine: template, placeholder expansion (AnyRes counts,
/// the multi-image path, SmolVLM's tile layout), tokenization, features scattered in order, decoding.
final class TiledVisionEngineTests: XCTestCase {
    /// 4.x hub layouts share the 5.x directories' reference outputs (`reference_file`).
    static let models = ["llava-ov-v5", "smolvlm-v5", "llava-ov-v4", "idefics3-v4"]
    let vl = Fixtures.url("vl")

    private func messages(_ raw: [[String: Any]]) -> (messages: [ChatMessage], images: [String]) {
        fixtureMessages(raw)
    }

    func testEveryCaseMatchesTransformersThroughTheEngine() async throws {
        for name in Self.models {
            let engine = try InferenceEngine(directory: vl.appendingPathComponent(name))
            var ref = try Fixtures.json("vl/\(name)/reference.json") as! [String: Any]
            if let file = ref["reference_file"] as? String {
                ref = try Fixtures.json("vl/\(name)/\(file)") as! [String: Any]
            }
            for c in ref["cases"] as! [[String: Any]] {
                let label = "\(name) \(c["name"]!)"
                await engine.resetContext()
                let (list, images) = messages(c["messages"] as! [[String: Any]])
                XCTAssertEqual(try engine.renderChat(list), c["prompt"] as? String, "\(label) rendering")
                var r = GenerationRequest(prompt: .chat(list))
                r.images = images
                r.sampling.temperature = 0
                r.maxTokens = (c["greedy_new_ids"] as! [Int]).count
                r.ignoreEOS = true
                var prompt: [Int] = [], imageTokens: [Int] = [], tokens: [Int]?
                for try await event in await engine.generate(r) {
                    if case let .prompt(ids, _, counts) = event { prompt = ids; imageTokens = counts }
                    if case let .done(cands, _, _) = event { tokens = cands.first?.tokens }
                }
                XCTAssertEqual(prompt, c["input_ids"] as? [Int], "\(label) ids")
                let counts = (c["images"] as? [[String: Any]] ?? []).map { $0["num_features"] as! Int }
                XCTAssertEqual(imageTokens, counts, "\(label) image tokens")
                XCTAssertEqual(tokens, c["greedy_new_ids"] as? [Int], "\(label) greedy")
            }
        }
    }

    func testFollowUpTurnReusesCacheAndFeatures() async throws {
        for name in ["llava-ov-v5", "smolvlm-v5"] {
            let engine = try InferenceEngine(directory: vl.appendingPathComponent(name))
            let ref = try Fixtures.json("vl/\(name)/reference.json") as! [String: Any]
            let second = (ref["cases"] as! [[String: Any]]).first { $0["name"] as? String == "second_turn" }!
            let all = second["messages"] as! [[String: Any]]
            let want = second["greedy_new_ids"] as! [Int]
            func request(_ raw: [[String: Any]]) -> GenerationRequest {
                let (list, images) = messages(raw)
                var r = GenerationRequest(prompt: .chat(list))
                r.images = images
                r.sampling.temperature = 0
                r.maxTokens = want.count
                r.ignoreEOS = true
                return r
            }
            let a = try await engine.complete(request([all[0]]))
            XCTAssertEqual(a.timings.imagesEncoded, 1, name)
            // The whole conversation: the picture is not encoded again and its rows come from the KV cache.
            let b = try await engine.complete(request(all))
            XCTAssertEqual(b.timings.imagesEncoded, 0, name)
            XCTAssertEqual(b.timings.imagesCached, 1, name)
            let imageTokens = (second["images"] as! [[String: Any]])[0]["num_features"] as! Int
            XCTAssertGreaterThan(b.timings.reusedTokens, imageTokens, "\(name): the image rows come from the cache")
            XCTAssertEqual(b.prompt, second["input_ids"] as? [Int], name)
            XCTAssertEqual(b.candidates[0].tokens, want, "\(name): same reply as a cold run")
        }
    }
}
