import Foundation
import Inference
import Sampling

/// The in-process inference engine as a `ChatBackend`.
public final class EngineBackend: ChatBackend {
    public let engine: InferenceEngine
    public let info: ModelInfo

    public init(engine: InferenceEngine, name: String) {
        self.engine = engine
        info = ModelInfo(name: name, family: engine.model.familyName, contextLength: engine.contextLength,
                         supportsImages: engine.model.isMultimodal, imagesUnavailable: engine.model.missingVisionPart)
    }

    /// A turn with images becomes content parts, images first then the text (as transformers' chat
    /// examples and the reference fixtures write them); a turn without stays a plain string, which every
    /// template, text-only ones included, prints as is.
    static func message(_ t: ChatTurn) -> ChatMessage {
        guard !t.images.isEmpty else { return ChatMessage(role: t.role, text: t.text) }
        return ChatMessage(role: t.role, parts: t.images.map { _ in ContentPart.image } + [.text(t.text)])
    }

    static func request(_ r: ChatRequest) -> GenerationRequest {
        var g = GenerationRequest(prompt: .chat(r.messages.map(message)))
        g.images = r.messages.flatMap(\.images)
        g.maxTokens = r.maxTokens
        g.sampling = r.sampling
        g.candidates = r.candidates
        g.candidateTemperatures = r.temperatures
        return g
    }

    static func reason(_ f: FinishReason) -> StopReason {
        switch f {
        case .stop: .stop
        case .length: .length
        case .cancelled: .cancelled
        case .contextFull: .contextFull
        }
    }

    public func generate(_ request: ChatRequest) -> AsyncThrowingStream<BackendEvent, Error> {
        let engine = self.engine
        let g = Self.request(request)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in await engine.generate(g) {
                        switch event {
                        case let .prompt(tokens, reused, _):
                            continuation.yield(.prompt(tokens: tokens.count, reused: reused))
                        case let .token(candidate, id, text, _) where id < 0:
                            // id -1: the detokenizer's tail at the end, not a sampled token.
                            continuation.yield(.text(candidate: candidate, text: text))
                        case let .token(candidate, _, text, temperature):
                            continuation.yield(.token(candidate: candidate, text: text, temperature: temperature))
                        case let .candidateFinished(candidate, c):
                            continuation.yield(.candidateFinished(candidate: candidate, reason: Self.reason(c.finishReason)))
                        case let .done(_, timings, _):
                            continuation.yield(.done(decodeTokensPerSecond: timings.decodeTokensPerSecond,
                                                     prefillTokensPerSecond: timings.prefillTokensPerSecond))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            // Leaving the stream early ends the engine's stream too, which cancels between tokens.
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func updateSampling(_ settings: SamplerSettings) async { await engine.updateSampling(settings) }

    public func cancel() async { await engine.cancel() }

    public func imageTokenCost(width: Int, height: Int) -> Int? {
        guard info.supportsImages else { return nil }
        return try? engine.imageTokenCost(width: width, height: height)
    }

    public func promptTokenCount(_ messages: [ChatTurn]) async -> Int? {
        try? engine.promptTokens(Self.request(ChatRequest(messages: messages, sampling: SamplerSettings(), maxTokens: 1)))
            .count
    }
}
