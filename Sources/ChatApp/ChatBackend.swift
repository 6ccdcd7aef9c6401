import Sampling

/// What the status bar says about the loaded model.
public struct ModelInfo: Sendable, Equatable, Codable {
    public var name: String
    public var family: String
    public var contextLength: Int
    public var supportsImages: Bool
    /// Why a model that could read images cannot now (a GGUF vision model without its mmproj file).
    public var imagesUnavailable: String?

    public init(name: String, family: String, contextLength: Int, supportsImages: Bool = false,
                imagesUnavailable: String? = nil) {
        self.name = name
        self.family = family
        self.contextLength = contextLength
        self.supportsImages = supportsImages
        self.imagesUnavailable = imagesUnavailable
    }
}

/// One turn of the conversation as sent to the model.
public struct ChatTurn: Sendable, Equatable, Codable {
    public var role: String
    public var text: String
    /// Image files shown to the model before the text of this turn, in order.
    public var images: [String]
    public init(role: String, text: String, images: [String] = []) {
        self.role = role
        self.text = text
        self.images = images
    }
}

public struct ChatRequest: Sendable, Equatable {
    public var messages: [ChatTurn]
    public var sampling: SamplerSettings
    public var maxTokens: Int
    /// Independent samples from one prefill (seeds seed, seed+1, ...).
    public var candidates: Int
    /// One temperature per candidate (empty: all at `sampling.temperature`).
    public var temperatures: [Float]

    public init(messages: [ChatTurn], sampling: SamplerSettings, maxTokens: Int, candidates: Int = 1,
                temperatures: [Float] = []) {
        self.messages = messages
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.candidates = candidates
        self.temperatures = temperatures
    }
}

public enum StopReason: String, Sendable, Codable, Equatable {
    case stop, length, cancelled
    case contextFull = "context_full"
}

/// The engine's generation events, reduced to what the chat shows.
public enum BackendEvent: Sendable, Equatable {
    /// The prompt was prefilled: its length in tokens, and how many came from the cache.
    case prompt(tokens: Int, reused: Int)
    /// Text completed by a sampled token (possibly empty mid-character) and the temperature it was
    /// sampled at.
    case token(candidate: Int, text: String, temperature: Float)
    /// Text with no token of its own (the detokenizer's tail, flushed when a candidate ends).
    case text(candidate: Int, text: String)
    case candidateFinished(candidate: Int, reason: StopReason)
    /// The last event.
    case done(decodeTokensPerSecond: Double, prefillTokensPerSecond: Double)
}

/// The inference engine as the chat sees it; a fake stands in for it in tests.
public protocol ChatBackend: Sendable {
    var info: ModelInfo { get }
    func generate(_ request: ChatRequest) -> AsyncThrowingStream<BackendEvent, Error>
    /// Applies settings to the running generation from its next token.
    func updateSampling(_ settings: SamplerSettings) async
    /// Stops the running generation after the token in progress.
    func cancel() async
    /// Tokens the conversation takes once rendered through the chat template (nil if unknown).
    func promptTokenCount(_ messages: [ChatTurn]) async -> Int?
    /// Vision tokens an image of this size costs (nil when unknown or the model reads text only).
    func imageTokenCost(width: Int, height: Int) -> Int?
}

extension ChatBackend {
    public func imageTokenCost(width: Int, height: Int) -> Int? { nil }
}
