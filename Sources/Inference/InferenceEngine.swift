import Foundation
import ImageProcessing
import Models
import TensorCore
import Sampling
import Tokenizers

public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case busy
    case noChatTemplate(directory: String)
    case imagesNotSupported(modelType: String)
    /// A GGUF vision model's text half loaded without its mmproj file (the reason, from the loader).
    case visionPartMissing(String)
    case emptyPrompt
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .busy: "a generation is already running"
        case let .noChatTemplate(dir): "\(dir) has no chat template (chat_template.jinja, chat_template.json or tokenizer_config.json); use --raw"
        case let .imagesNotSupported(type): "this model (\(type)) has no vision encoder: images cannot be attached"
        case let .visionPartMissing(why): why
        case .emptyPrompt: "the prompt is empty"
        case let .invalidRequest(why): why
        }
    }
}

extension InferenceError {
    /// Why `model` refuses images.
    static func noVision(_ model: LoadedModel) -> InferenceError {
        if let why = model.missingVisionPart { return .visionPartMissing(why) }
        return .imagesNotSupported(modelType: model.modelType)
    }
}

public struct EngineOptions: Sendable {
    /// Context length (tokens of KV cache). Default: the model's maximum, at most 4096.
    public var contextLength: Int?
    /// Quantize the language model's matrices at load (nil: use the checkpoint's weights as they are).
    public var quantization: DType?
    /// A pause after every sampled token, to watch a tiny model stream at human speed (UI tests, demos).
    public var tokenDelay: Double = 0
    /// A GGUF model's llama.cpp mmproj file (`--mmproj`; nil: looked for beside the model).
    public var mmproj: URL?
    public init(contextLength: Int? = nil, quantization: DType? = nil, tokenDelay: Double = 0, mmproj: URL? = nil) {
        self.contextLength = contextLength
        self.quantization = quantization
        self.tokenDelay = tokenDelay
        self.mmproj = mmproj
    }
}

/// Sampling settings shared between the engine and a running generation, read before every token.
final class LiveSettings: @unchecked Sendable {
    private let lock = NSLock()
    private var value: SamplerSettings
    private var version = 0

    init(_ value: SamplerSettings) { self.value = value }

    func set(_ new: SamplerSettings) {
        lock.lock(); value = new; version += 1; lock.unlock()
    }

    /// The settings if they changed since `seen` (which is updated).
    func changed(since seen: inout Int) -> SamplerSettings? {
        lock.lock(); defer { lock.unlock() }
        guard version != seen else { return nil }
        seen = version
        return value
    }
}

/// A flag set from any thread, read between tokens.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// Owns a loaded model and its conversation state (the KV cache). `generate` runs the work on a
/// dedicated background queue, never on the caller's executor, and streams events back; it can be
/// cancelled between tokens and its sampling settings changed while it runs.
public actor InferenceEngine {
    public nonisolated let model: LoadedModel
    public nonisolated let loadMilliseconds: Double
    public nonisolated let contextLength: Int
    private nonisolated let tokenDelay: Double
    private nonisolated let session: Session
    private var current: (live: LiveSettings, cancel: Flag)?
    private static let queue = DispatchQueue(label: "squint.inference", qos: .userInitiated)

    public init(directory: URL, options: EngineOptions = EngineOptions()) throws {
        let start = DispatchTime.now()
        model = try LoadedModel(directory: directory, options: LoadOptions(quantization: options.quantization, mmproj: options.mmproj))
        let limit = options.contextLength ?? min(model.language.config.maxPositions, 4096)
        guard limit > 0 else { throw InferenceError.invalidRequest("context length must be positive") }
        contextLength = limit
        tokenDelay = options.tokenDelay
        session = Session(model: model, capacity: limit)
        loadMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    }

    /// Applies new sampling settings to the running generation from its next token (and to later ones).
    public func updateSampling(_ settings: SamplerSettings) {
        current?.live.set(settings)
    }

    /// Stops the running generation after the token in progress.
    public func cancel() {
        current?.cancel.set()
    }

    /// Forgets the conversation's cached keys and values.
    public func resetContext() {
        session.lock.lock(); session.cache.reset(); session.lock.unlock()
    }

    /// Tokens currently held in the KV cache.
    public func cachedTokenCount() -> Int {
        session.lock.lock(); defer { session.lock.unlock() }
        return session.cache.count
    }

    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: GenerationEvent.self)
        guard session.lock.try() else {
            continuation.finish(throwing: InferenceError.busy)
            return stream
        }
        let live = LiveSettings(request.sampling)
        let cancel = Flag()
        current = (live, cancel)
        continuation.onTermination = { _ in cancel.set() }
        let session = self.session
        let model = self.model
        let tokenDelay = self.tokenDelay
        Self.queue.async {
            let job = GenerationJob(model: model, session: session, request: request, live: live, cancel: cancel,
                                    tokenDelay: tokenDelay)
            let result = Result { try job.run { continuation.yield($0) } }
            session.lock.unlock()
            switch result {
            case let .success(done):
                continuation.yield(done)
                continuation.finish()
            case let .failure(error): continuation.finish(throwing: error)
            }
        }
        return stream
    }

    /// Convenience: runs a request to the end and returns its candidates and timings.
    public func complete(_ request: GenerationRequest) async throws -> (prompt: [Int], candidates: [Candidate], timings: Timings, logits: [[Float]]) {
        var prompt: [Int] = []
        for try await event in generate(request) {
            switch event {
            case let .prompt(tokens, _, _): prompt = tokens
            case let .done(candidates, timings, logits): return (prompt, candidates, timings, logits)
            default: break
            }
        }
        throw InferenceError.invalidRequest("generation ended without a result")
    }

    // MARK: - Prompts

    /// The chat template's rendering of `messages`, as transformers'
    /// `apply_chat_template(messages, add_generation_prompt=..., tokenize=False)`.
    public nonisolated func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                                       variables: [String: String] = [:]) throws -> String {
        guard let template = model.chatTemplate else {
            throw InferenceError.noChatTemplate(directory: model.directory.path)
        }
        return try ChatRendering.render(template, tokenizer: model.tokenizer, messages: messages,
                                        addGenerationPrompt: addGenerationPrompt, variables: variables,
                                        imagePartText: model.vision?.imagePartText)
    }

    /// The token ids a prompt becomes (images are decoded and resized to count their tokens).
    /// Never waits for a running generation (the chat counts its context while a reply streams) and
    /// never runs the vision tower.
    public nonisolated func promptTokens(_ request: GenerationRequest) throws -> [Int] {
        try PromptBuilder.plan(model, request, cache: session.features, encode: false).ids
    }

    /// How many tokens an image of this size costs under the given settings, before any work is done.
    public nonisolated func imageTokenCost(width: Int, height: Int, settings: ImageSettings = ImageSettings()) throws -> Int {
        guard let vision = model.vision else { throw InferenceError.noVision(model) }
        return try vision.tokenCount(width: width, height: height, settings: settings)
    }
}

/// The conversation's cache and buffers; one generation at a time holds `lock`.
final class Session: @unchecked Sendable {
    let lock = NSLock()
    let cache: KVCache
    let logits: UnsafeMutableBufferPointer<Float>
    let features = FeatureCache()

    init(model: LoadedModel, capacity: Int) {
        cache = model.language.makeCache(capacity: capacity)
        logits = .allocate(capacity: model.language.logitCount)
        logits.initialize(repeating: 0)
    }

    deinit { logits.deallocate() }
}
