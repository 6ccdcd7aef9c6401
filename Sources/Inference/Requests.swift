import Foundation
import Models
import Sampling

/// One part of a message's content, in transformers' format.
public enum ContentPart: Sendable, Equatable {
    case text(String)
    /// The next image of the request's image list.
    case image
}

/// A chat message as transformers' `apply_chat_template` takes it.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var parts: [ContentPart]
    /// Whether the content was given as a plain string (text-only models' templates print `content`).
    public var isPlainString: Bool

    public init(role: String, text: String) {
        self.role = role
        parts = [.text(text)]
        isPlainString = true
    }

    public init(role: String, parts: [ContentPart]) {
        self.role = role
        self.parts = parts
        isPlainString = false
    }

    public var imageCount: Int { parts.filter { $0 == .image }.count }
}

/// What to feed the model.
public enum PromptInput: Sendable, Equatable {
    /// Rendered through the model's chat template with the generation prompt added.
    case chat([ChatMessage])
    /// Tokenized as is, special tokens added as the tokenizer's defaults say (`tokenizer(text)`).
    case raw(String)
    /// Token ids fed as they are.
    case tokens([Int])
}

public struct GenerationRequest: Sendable {
    public var prompt: PromptInput
    public var maxTokens: Int = 256
    public var sampling = SamplerSettings()
    /// Keep generating past end-of-sequence tokens.
    public var ignoreEOS = false
    /// Independent samples of the same prompt from one prefill (seeds seed, seed+1, ...).
    public var candidates = 1
    /// Optional per-candidate temperatures (one per candidate); a live temperature change then moves each
    /// by the same amount.
    public var candidateTemperatures: [Float] = []
    /// Keep every step's raw logits of the first candidate (for `--dump-logits`).
    public var captureLogits = false
    /// Image files filling the `.image` parts of the messages, in order.
    public var images: [String] = []
    /// Image preprocessing overrides (min/max pixels).
    public var imageSettings = ImageSettings()
    /// Extra variables for the chat template (e.g. `date_string`).
    public var templateVariables: [String: String] = [:]

    public init(prompt: PromptInput) { self.prompt = prompt }
}

public enum FinishReason: String, Sendable, Codable {
    /// An end-of-sequence token was sampled.
    case stop
    /// `maxTokens` were generated.
    case length
    /// The consumer stopped it.
    case cancelled
    /// The context filled up.
    case contextFull = "context_full"
}

public struct Timings: Sendable, Equatable, Codable {
    public var loadMs: Double = 0
    public var imageEncodeMs: Double = 0
    public var prefillMs: Double = 0
    public var decodeMs: Double = 0
    public var prefillTokens = 0
    public var decodeTokens = 0
    /// Prompt tokens found in the cache and not computed again.
    public var reusedTokens = 0
    /// Images run through the vision tower for this prompt, and images whose features were cached.
    public var imagesEncoded = 0
    public var imagesCached = 0

    public init() {}
    public var prefillTokensPerSecond: Double { prefillMs > 0 ? Double(prefillTokens) / prefillMs * 1000 : 0 }
    public var decodeTokensPerSecond: Double { decodeMs > 0 ? Double(decodeTokens) / decodeMs * 1000 : 0 }
}

/// A finished candidate.
public struct Candidate: Sendable, Equatable {
    public var tokens: [Int] = []
    public var text = ""
    public var temperatures: [Float] = []
    public var finishReason: FinishReason = .length
}

public enum GenerationEvent: Sendable {
    /// The prompt was tokenized and prefilled; `imageTokens` is the token count of each image.
    case prompt(tokens: [Int], reused: Int, imageTokens: [Int])
    /// A token was sampled: its id, the text it completes (possibly empty mid-character), the temperature used.
    case token(candidate: Int, id: Int, text: String, temperature: Float)
    case candidateFinished(candidate: Int, Candidate)
    /// The last event: every candidate, timings, and the captured logits if asked (`[steps][vocab]`).
    case done(candidates: [Candidate], timings: Timings, logits: [[Float]])
}
