import Foundation
import Sampling
import TerminalUI

public enum Role: String, Sendable, Codable, Equatable {
    case user, assistant, system, error
}

public enum MessageStatus: String, Sendable, Codable, Equatable {
    case complete, streaming, stopped
}

/// One reply among several from `/compare`.
public struct CandidateReply: Sendable, Codable, Equatable {
    public var text = ""
    public var temperatures: [Float] = []
    /// Unicode scalars of `text` after each token (for colouring text by the token's temperature).
    public var tokenEnds: [Int]? = nil
    /// The base temperature this column was asked for, when columns differ.
    public var requestedTemperature: Float? = nil
    public var finish: StopReason? = nil
    public init(text: String = "", requestedTemperature: Float? = nil) {
        self.text = text
        self.requestedTemperature = requestedTemperature
    }
}

public struct Message: Sendable, Codable, Equatable {
    public var role: Role
    /// As the model produced it: sanitised only when drawn or exported.
    public var text: String
    /// The temperature each token was sampled at (assistant replies).
    public var temperatures: [Float] = []
    /// Unicode scalars of `text` after each token (for colouring text by the token's temperature).
    public var tokenEnds: [Int]? = nil
    public var status: MessageStatus = .complete
    /// Non-empty for a comparison still waiting for one candidate to be kept.
    public var candidates: [CandidateReply] = []
    /// Stored optional so sessions saved before images existed still load ("attachments" in JSON).
    var attachments: [Attachment]? = nil

    public init(role: Role, text: String, status: MessageStatus = .complete) {
        self.role = role
        self.text = text
        self.status = status
    }

    public var isComparison: Bool { !candidates.isEmpty }

    /// The images sent with this (user) message, in order; they stay part of the conversation.
    public var images: [Attachment] {
        get { attachments ?? [] }
        set { attachments = newValue.isEmpty ? nil : newValue }
    }
}

/// An image in the attachments strip: being read (`attachment` nil) or ready.
public struct PendingImage: Sendable, Equatable {
    public var path: String
    public var attachment: Attachment?
    public init(path: String, attachment: Attachment? = nil) {
        self.path = path
        self.attachment = attachment
    }
}

public enum Mode: Sendable, Equatable {
    case idle
    case generating
    /// Ctrl-C at idle: a second Ctrl-C (or y) quits, anything else carries on.
    case confirmQuit
}

/// How the temperature of each token is shown under (or on) a reply.
public enum TemperatureView: String, Sendable, CaseIterable {
    case off
    /// One block character per token under the reply, height and colour by temperature.
    case sparkline
    /// The reply's text coloured by the temperature each of its tokens was sampled at.
    case colour
}

public enum Overlay: Sendable, Equatable {
    case none
    /// The key map, scrolled down by `offset` rows.
    case help(offset: Int)
    case sampling(selected: Int)
    case sessions(selected: Int)
}

/// A generation the loop should start: one request, or several run one after another when the
/// columns of a comparison need different temperatures (the engine's request has one temperature
/// for all candidates).
public struct GenerationPlan: Sendable, Equatable {
    public var requests: [ChatRequest]
    public init(requests: [ChatRequest]) { self.requests = requests }
}

/// Everything the chat screen shows; changed only by `reduce`.
public struct ChatState: Sendable {
    public var info: ModelInfo
    /// How the loaded model was named (saved with the session so `--resume` reopens it); nil in tests.
    /// Not changed by resuming another session in the UI: the engine keeps the model it loaded.
    public var modelSource: ModelChoice? = nil
    public var messages: [Message] = []
    public var editor = LineEditor()
    public var settings = SamplerSettings()
    public var maxTokens = 512
    public var mode = Mode.idle
    public var overlay = Overlay.none
    /// Transcript lines scrolled up from the bottom (0 follows the newest text).
    public var scrollBack = 0
    public var temperatureView = TemperatureView.off
    public var showTemperatures: Bool {
        get { temperatureView != .off }
        set { temperatureView = newValue ? .sparkline : .off }
    }
    public var notice: String? = nil
    public var contextUsed = 0
    public var tokensPerSecond: Double = 0
    public var sessionID: String
    public var sessionTitle: String? = nil
    /// The column selected in the latest comparison.
    public var selectedCandidate = 0
    /// Index in `messages` of the user message being edited (Alt-E), replaced on submit.
    public var editingIndex: Int? = nil
    public var lastCompareCount = 3
    /// Rows of transcript on screen (set by the loop after each frame): one PgUp/PgDn step.
    public var pageSize = 10

    // Images.
    /// The attachments strip: images going with the next message.
    public var pendingImages: [PendingImage] = []
    /// What the loader found, by path (previews are made once; the UI loop never decodes).
    public var loadedImages: [String: LoadedImage] = [:]
    /// Paths the loader is reading now.
    public var loadingPaths: Set<String> = []
    /// Paths of a resumed session's images not yet checked against their saved hashes.
    public var verifyingPaths: Set<String> = []
    /// Enter was pressed while images were still being read: send when they are.
    public var sendWhenReady = false
    /// Paths typed in a message that could not be read: the next Enter sends them as text.
    public var unreadablePaths: Set<String> = []
    public var previewMode = PreviewMode.color
    public var files = FileEnvironment.process

    // Effects asked for by the reducer, taken by the loop.
    public var pendingPlan: GenerationPlan? = nil
    public var pendingExportPath: String? = nil
    public var sessionList: [SessionSummary] = []
    public var pendingResumeID: String? = nil
    /// Paths for the loop to read in the background (`.loadImages`).
    public var imagesToLoad: [String] = []

    // Running generation bookkeeping.
    var generationStart: Double? = nil
    var generatedTokens = 0
    /// Tokens of the reply being written (or last written).
    public var generatedTokensSoFar: Int { generatedTokens }
    var firstTokenTime: Double? = nil

    public init(info: ModelInfo, sessionID: String) {
        self.info = info
        self.sessionID = sessionID
    }

    /// The conversation as the model sees it: the system message (`/system`), user and assistant turns;
    /// a comparison still open counts as its selected candidate.
    public func turns(upTo end: Int? = nil) -> [ChatTurn] {
        messages[0..<(end ?? messages.count)].compactMap { m in
            switch m.role {
            case .user: return ChatTurn(role: "user", text: m.text, images: m.images.filter { !$0.missing }.map(\.path))
            case .assistant:
                if m.isComparison {
                    let i = min(selectedCandidate, m.candidates.count - 1)
                    return ChatTurn(role: "assistant", text: m.candidates[i].text)
                }
                return ChatTurn(role: "assistant", text: m.text)
            case .system: return ChatTurn(role: "system", text: m.text)
            case .error: return nil
            }
        }
    }

    /// Sets (or with an empty text removes) the system message, kept first in the conversation.
    public mutating func setSystemPrompt(_ text: String) {
        messages.removeAll { $0.role == .system }
        if !text.allSatisfy(\.isWhitespace) { messages.insert(Message(role: .system, text: text), at: 0) }
    }

    public var lastAssistantIndex: Int? { messages.lastIndex { $0.role == .assistant } }
    public var lastUserIndex: Int? { messages.lastIndex { $0.role == .user } }
}
