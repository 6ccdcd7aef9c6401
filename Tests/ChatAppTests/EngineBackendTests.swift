@testable import ChatApp
import Foundation
import Inference
import Sampling
import TestSupport
import XCTest

/// The adapter over the real engine and the tiny fixture model.
final class EngineBackendTests: XCTestCase {
    func testEventsMapAndTheDetokenizerTailIsNotAToken() async throws {
        let dir = Fixtures.url("models/qwen2-v4")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dir.path), "fixture missing")
        let engine = try InferenceEngine(directory: dir)
        let backend = EngineBackend(engine: engine, name: "qwen2-v4")
        XCTAssertEqual(backend.info.family, engine.model.familyName)
        XCTAssertEqual(backend.info.contextLength, engine.contextLength)

        var settings = SamplerSettings()
        settings.temperature = 0.7
        settings.seed = 5
        let request = ChatRequest(messages: [ChatTurn(role: "user", text: "Hello")], sampling: settings, maxTokens: 12, candidates: 2)
        var state = makeState()
        state.messages = [Message(role: .user, text: "Hello"), Message(role: .assistant, text: "", status: .streaming)]
        state.messages[1].candidates = [CandidateReply(), CandidateReply()]
        var promptTokens = 0, finished = 0, done = false
        for try await event in backend.generate(request) {
            _ = reduce(&state, .backend(event), now: 0)
            switch event {
            case let .prompt(tokens, _): promptTokens = tokens
            case let .token(_, _, t): XCTAssertEqual(t, 0.7, accuracy: 1e-6)   // every sampled token at T
            case .candidateFinished: finished += 1
            case .done: done = true
            case .text: break
            }
        }
        XCTAssertTrue(done)
        XCTAssertEqual(finished, 2)
        let expected = try await engine.promptTokens(EngineBackend.request(request)).count
        XCTAssertEqual(promptTokens, expected)
        // The engine's own candidates for the same request: same texts, same token counts.
        let reference = try await engine.complete(EngineBackend.request(request))
        XCTAssertEqual(state.messages[1].candidates.map(\.text), reference.candidates.map(\.text))
        XCTAssertEqual(state.messages[1].candidates.map(\.temperatures.count), reference.candidates.map(\.tokens.count))
        let counted = await backend.promptTokenCount(request.messages)
        XCTAssertEqual(counted, expected)
    }
}
