import Foundation
import XCTest
@testable import Inference
import Sampling
import TestSupport

/// The inference actor on the tiny fixture models: reference agreement through the whole pipeline
/// (template -> tokens -> decode), cancellation, live sampling changes, prefix reuse and candidates.
final class EngineTests: XCTestCase {
    private func engine(_ name: String = "qwen2-v4") throws -> InferenceEngine {
        let dir = Fixtures.url("models/\(name)")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir.path), "fixture \(name) missing")
        return try InferenceEngine(directory: dir)
    }

    private func reference(_ name: String = "qwen2-v4") throws -> [String: Any] {
        try Fixtures.json("models/\(name)/reference.json") as! [String: Any]
    }

    private func greedy(_ prompt: PromptInput, max: Int = 32) -> GenerationRequest {
        var r = GenerationRequest(prompt: prompt)
        r.sampling.temperature = 0
        r.maxTokens = max
        r.ignoreEOS = true
        return r
    }

    func testGreedyChatThroughTemplateMatchesTransformers() async throws {
        for name in ["qwen2-v4", "qwen2-v5", "llama-v4", "smollm2-v5"] {
            let dir = Fixtures.url("models/\(name)")
            guard FileManager.default.fileExists(atPath: dir.path) else { continue }
            let engine = try InferenceEngine(directory: dir)
            let ref = try reference(name)
            let chat = ref["chat"] as! [String: Any]
            let variables = (ref["template_kwargs"] as? [String: String]) ?? [:]
            let messages = (chat["messages"] as! [[String: Any]]).map {
                ChatMessage(role: $0["role"] as! String, text: $0["content"] as! String)
            }
            XCTAssertEqual(try engine.renderChat(messages, variables: variables), chat["rendered"] as? String, "\(name) rendering")
            var request = greedy(.chat(messages))
            request.templateVariables = variables
            let result = try await engine.complete(request)
            XCTAssertEqual(result.prompt, chat["ids"] as? [Int], "\(name) prompt ids")
            XCTAssertEqual(result.candidates[0].tokens, chat["greedy_new_ids"] as? [Int], "\(name) greedy ids")
            XCTAssertEqual(result.candidates[0].finishReason, .length)
            XCTAssertEqual(result.candidates[0].temperatures, Array(repeating: 0, count: 32))
        }
    }

    func testRawPromptAndCapturedLogits() async throws {
        let engine = try engine()
        let raw = try reference()["raw"] as! [String: Any]
        var request = greedy(.raw(raw["text"] as! String), max: 4)
        request.captureLogits = true
        let result = try await engine.complete(request)
        XCTAssertEqual(result.prompt, raw["ids"] as? [Int])
        XCTAssertEqual(result.candidates[0].tokens, Array((raw["greedy_new_ids"] as! [Int]).prefix(4)))
        XCTAssertEqual(result.logits.count, 4)
        let expected = (raw["first_step_logits"] as! [NSNumber]).map { $0.floatValue }
        let d = closeness(result.logits[0], expected)
        XCTAssertLessThanOrEqual(d.maxAbsDiff, 1e-3 * max(1, expected.map(abs).max()!), "\(d)")
    }

    func testCancellationStopsBetweenTokensAndFreesTheEngine() async throws {
        let engine = try engine()
        var request = greedy(.raw("Once upon a time"), max: 400)
        request.sampling.temperature = 0.9
        var seen = 0
        var finish: FinishReason?
        for try await event in await engine.generate(request) {
            switch event {
            case .token:
                seen += 1
                if seen == 3 { await engine.cancel() }
            case let .candidateFinished(_, c):
                finish = c.finishReason
                XCTAssertLessThan(c.tokens.count, 400)
            default: break
            }
        }
        XCTAssertEqual(finish, .cancelled)
        // The engine is free again right away.
        let again = try await engine.complete(greedy(.raw("Hi"), max: 2))
        XCTAssertEqual(again.candidates[0].tokens.count, 2)
    }

    func testDroppingTheStreamCancels() async throws {
        let engine = try engine()
        do {
            let stream = await engine.generate(greedy(.raw("Hello"), max: 400))
            for try await event in stream { if case .token = event { break } }
        }
        // The abandoned generation ends soon; then a new one is accepted.
        var accepted = false
        for _ in 0..<200 {
            do {
                _ = try await engine.complete(greedy(.raw("Hi"), max: 1))
                accepted = true
                break
            } catch InferenceError.busy {
                try await Task.sleep(nanoseconds: 10_000_000)
            }
        }
        XCTAssertTrue(accepted)
    }

    func testSecondGenerationWhileBusyIsRefused() async throws {
        let engine = try engine()
        let first = await engine.generate(greedy(.raw("Hello"), max: 300))
        let second = await engine.generate(greedy(.raw("Hello"), max: 1))
        do {
            for try await _ in second {}
            XCTFail("expected busy")
        } catch {
            XCTAssertEqual(error as? InferenceError, .busy)
        }
        await engine.cancel()
        for try await _ in first {}
    }

    func testLiveTemperatureChangeAppliesFromTheNextToken() async throws {
        // A pause per token so that the change surely arrives while the reply is being written.
        let engine = try InferenceEngine(directory: Fixtures.url("models/qwen2-v4"), options: EngineOptions(tokenDelay: 0.004))
        var request = greedy(.raw("The"), max: 40)
        request.sampling.temperature = 0
        var temps: [Float] = []
        var sentAt: Int?
        for try await event in await engine.generate(request) {
            if case let .token(_, id, _, t) = event, id >= 0 {
                temps.append(t)
                if temps.count == 3 {
                    var s = request.sampling
                    s.temperature = 1.5
                    s.topK = 0; s.topP = 1; s.minP = 0
                    await engine.updateSampling(s)
                    sentAt = temps.count
                }
            }
        }
        let at = try XCTUnwrap(sentAt)
        XCTAssertEqual(Array(temps.prefix(at)), Array(repeating: 0, count: at), "tokens before the change")
        let firstHot = try XCTUnwrap(temps.firstIndex(of: 1.5), "the change never took effect: \(temps)")
        XCTAssertGreaterThanOrEqual(firstHot, at)
        XCTAssertTrue(temps[firstHot...].allSatisfy { $0 == 1.5 }, "\(temps)")
    }

    func testFollowUpTurnReusesTheCachedPrefix() async throws {
        let engine = try engine()
        var messages = [ChatMessage(role: "user", text: "What is a circle?")]
        let first = try await engine.complete(greedy(.chat(messages), max: 8))
        XCTAssertEqual(first.timings.reusedTokens, 0)
        messages.append(ChatMessage(role: "assistant", text: first.candidates[0].text))
        messages.append(ChatMessage(role: "user", text: "And a square?"))
        let second = try await engine.complete(greedy(.chat(messages), max: 4))
        XCTAssertGreaterThanOrEqual(second.timings.reusedTokens, first.prompt.count)
        XCTAssertEqual(second.timings.prefillTokens, second.prompt.count - second.timings.reusedTokens)
        // Same result as a cold engine: reuse changes cost, not output.
        let cold = try await self.engine().complete(greedy(.chat(messages), max: 4))
        XCTAssertEqual(second.candidates[0].tokens, cold.candidates[0].tokens)
    }

    func testCandidatesShareOnePrefillAndMatchSingleRuns() async throws {
        let engine = try engine()
        var request = GenerationRequest(prompt: .raw("A red square"))
        request.sampling.temperature = 1.2
        request.sampling.topK = 0
        request.sampling.seed = 42
        request.maxTokens = 6
        request.ignoreEOS = true
        request.candidates = 3
        let many = try await engine.complete(request)
        XCTAssertEqual(many.candidates.count, 3)
        XCTAssertEqual(many.timings.prefillTokens, many.prompt.count)
        for k in 0..<3 {
            var single = request
            single.candidates = 1
            single.sampling.seed = 42 + UInt64(k)
            let one = try await self.engine().complete(single)
            XCTAssertEqual(one.candidates[0].tokens, many.candidates[k].tokens, "candidate \(k)")
        }
    }

    func testImagesOnATextModelAreRefused() async throws {
        let engine = try engine()
        var request = greedy(.chat([ChatMessage(role: "user", parts: [.image, .text("what is this?")])]))
        request.images = [Fixtures.url("models/qwen2-v4/config.json").path]
        do {
            _ = try await engine.complete(request)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? InferenceError, .imagesNotSupported(modelType: "qwen2"))
        }
    }
}

extension EngineTests {
    /// Per-candidate temperatures: each column samples at its own temperature, from one prefill.
    func testCandidateTemperatures() async throws {
        let engine = try engine()
        var request = greedy(.raw("A red square"), max: 5)
        request.sampling.temperature = 0.8
        request.candidates = 3
        request.candidateTemperatures = [0, 0.5, 1.5]
        let r = try await engine.complete(request)
        XCTAssertEqual(r.candidates.map { Set($0.temperatures) }, [[0], [0.5], [1.5]])
        XCTAssertEqual(r.timings.prefillTokens, r.prompt.count, "one prefill")
        // Column 0 at temperature 0 is the greedy reply.
        let greedyReply = try await self.engine().complete(greedy(.raw("A red square"), max: 5))
        XCTAssertEqual(r.candidates[0].tokens, greedyReply.candidates[0].tokens)
        request.candidateTemperatures = [1]
        do {
            _ = try await engine.complete(request)
            XCTFail("a temperature per candidate is required")
        } catch {
            XCTAssertTrue("\(error)".contains("one temperature per candidate"), "\(error)")
        }
    }
}
