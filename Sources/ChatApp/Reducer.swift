import Foundation
import Sampling
import TerminalUI

/// What the loop must do after an event: handlers only change state and say what follows (htop's
/// Htop_Reaction habit); the loop performs the effects and redraws once per batch of events.
public struct Reaction: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let redraw = Reaction(rawValue: 1 << 0)
    /// Start `state.pendingPlan`.
    public static let generate = Reaction(rawValue: 1 << 1)
    public static let cancel = Reaction(rawValue: 1 << 2)
    /// Push `state.settings` to the running generation.
    public static let updateSampling = Reaction(rawValue: 1 << 3)
    public static let save = Reaction(rawValue: 1 << 4)
    public static let quit = Reaction(rawValue: 1 << 5)
    /// Write `state.pendingExportPath`.
    public static let export = Reaction(rawValue: 1 << 6)
    /// Fill `state.sessionList`.
    public static let listSessions = Reaction(rawValue: 1 << 7)
    /// Load `state.pendingResumeID`.
    public static let resume = Reaction(rawValue: 1 << 8)
    /// Start a new conversation (the engine forgets its cache).
    public static let reset = Reaction(rawValue: 1 << 9)
    /// Repaint every cell (Ctrl-L), not only the rows that changed.
    public static let fullRedraw = Reaction(rawValue: 1 << 10)
    /// Read `state.imagesToLoad` in the background (decode, hash, previews).
    public static let loadImages = Reaction(rawValue: 1 << 11)
    /// Count the conversation's tokens for the status line (after a resume's images were checked).
    public static let countContext = Reaction(rawValue: 1 << 12)
}

public enum AppEvent: Sendable, Equatable {
    case input(InputEvent)
    case backend(BackendEvent)
    /// The generation failed with this message.
    case failed(String)
    /// Every request of the plan ended (after `.done`, a failure or cancellation).
    case finished
    /// The conversation's length in tokens, counted after a session was resumed.
    case contextCount(Int)
    /// The background loader finished reading an image.
    case imageLoaded(path: String, ImageLoadResult)
}

/// The one place state changes. `now` is seconds on a monotonic clock (for tokens per second).
public func reduce(_ state: inout ChatState, _ event: AppEvent, now: Double) -> Reaction {
    switch event {
    case let .input(.resize(size)):
        _ = size
        return .redraw
    case let .input(.key(key)): return handleKey(&state, key, now: now)
    case .input(.terminate):
        return state.mode == .generating ? [.cancel, .save, .quit] : [.save, .quit]
    case let .backend(e): return handleBackend(&state, e, now: now)
    case let .imageLoaded(path, result): return imageLoaded(&state, path: path, result, now: now)
    case let .contextCount(n):
        if state.mode != .generating { state.contextUsed = n }
        return .redraw
    case let .failed(message):
        if let i = state.lastAssistantIndex, state.messages[i].status == .streaming {
            if state.messages[i].text.isEmpty, !state.messages[i].isComparison {
                state.messages.remove(at: i)
            } else {
                state.messages[i].status = .stopped
            }
        }
        state.messages.append(Message(role: .error, text: message))
        state.mode = state.mode == .generating ? .idle : state.mode
        return [.redraw]
    case .finished:
        if let i = state.lastAssistantIndex, state.messages[i].status == .streaming {
            state.messages[i].status = .complete
        }
        // Stopped before its first token: nothing to keep (an empty turn would reach the template).
        if let i = state.lastAssistantIndex, i == state.messages.count - 1, state.messages[i].status == .stopped,
           state.messages[i].text.isEmpty, !state.messages[i].isComparison {
            state.messages.remove(at: i)
            state.notice = "stopped before the first token"
        }
        if state.mode == .generating { state.mode = .idle }
        state.generationStart = nil
        return [.redraw, .save]
    }
}

// MARK: - Keys

func handleKey(_ state: inout ChatState, _ key: Key, now: Double) -> Reaction {
    if state.mode == .confirmQuit {
        if key == .ctrl("c") || key == .char("y") || key == .char("Y") { return .quit }
        state.mode = .idle
        state.notice = nil
        return .redraw
    }
    switch state.overlay {
    case .none: break
    case let .help(offset):
        // Up/Down/PgUp/PgDn scroll a key map longer than the screen; any other key closes it.
        switch key {
        case .up: state.overlay = .help(offset: max(0, offset - 1))
        case .down: state.overlay = .help(offset: offset + 1)
        case .pageUp: state.overlay = .help(offset: max(0, offset - state.pageSize))
        case .pageDown: state.overlay = .help(offset: offset + state.pageSize)
        default: state.overlay = .none
        }
        return .redraw
    case let .sampling(selected):
        if let r = handleSamplingPanel(&state, key, selected: selected) { return r }
    case let .sessions(selected):
        return handleSessionsOverlay(&state, key, selected: selected)
    }
    if state.overlay == .none, let r = handleAttachmentKey(&state, key) { return r }
    guard let action = KeyMap.action(for: key, inputEmpty: state.editor.isEmpty) else {
        if state.editor.handle(key) {
            state.notice = nil
            return .redraw
        }
        return []
    }
    return perform(&state, action, now: now)
}

func perform(_ state: inout ChatState, _ action: Action, now: Double) -> Reaction {
    switch action {
    case .submit: return submit(&state, now: now)
    case .interrupt:
        if state.mode == .generating { return stop(&state) }
        if state.overlay != .none { state.overlay = .none; return .redraw }
        state.mode = .confirmQuit
        state.notice = "Press Ctrl-C again (or y) to quit; any other key to stay."
        return .redraw
    case .stop:
        if state.mode == .generating { return stop(&state) }
        if state.overlay != .none { state.overlay = .none; return .redraw }
        if state.editingIndex != nil {
            state.editingIndex = nil
            state.editor.clear()
            state.notice = "edit cancelled"
            return .redraw
        }
        return []
    case .quit:
        if state.mode == .generating { return [.cancel, .quit] }
        return .quit
    case .regenerate: return regenerate(&state, now: now)
    case .editLast:
        guard state.mode != .generating else { return busy(&state) }
        guard let i = state.lastUserIndex else { state.notice = "nothing to edit yet"; return .redraw }
        state.editor.setText(state.messages[i].text)
        // Its images go back to the strip, to be sent again (or detached).
        state.pendingImages = state.messages[i].images.filter { !$0.missing }.map { PendingImage(path: $0.path, attachment: $0) }
        state.editingIndex = i
        state.notice = "editing your last message: Enter sends it again, Esc cancels"
        return .redraw
    case .temperatureUp, .temperatureDown:
        let step: Float = action == .temperatureUp ? 0.05 : -0.05
        // Snap to the 0.05 grid so repeated steps do not drift (0.8 + 0.05 + ... in Float).
        let t = max(0, ((state.settings.temperature + step) * 20).rounded() / 20)
        state.settings.temperature = t
        state.notice = String(format: "temperature %.2f%@", t, state.mode == .generating ? " (from the next token)" : "")
        return state.mode == .generating ? [.redraw, .updateSampling] : .redraw
    case .toggleSampling:
        state.overlay = state.overlay == .none ? .sampling(selected: 0) : .none
        return .redraw
    case .toggleTemperatures:
        let all = TemperatureView.allCases
        state.temperatureView = all[((all.firstIndex(of: state.temperatureView) ?? 0) + 1) % all.count]
        state.notice = "token temperatures: \(state.temperatureView.rawValue)"
        return .redraw
    case .toggleHelp:
        if case .help = state.overlay { state.overlay = .none } else { state.overlay = .help(offset: 0) }
        return .redraw
    case .sessions:
        state.overlay = .sessions(selected: 0)
        return [.redraw, .listSessions]
    case .compare: return startCompare(&state, count: state.lastCompareCount, temperatures: [], now: now)
    case .keepCandidate: return keep(&state, nil)
    case .nextCandidate, .previousCandidate:
        guard let i = state.lastAssistantIndex, state.messages[i].isComparison else { return [] }
        let n = state.messages[i].candidates.count
        state.selectedCandidate = (state.selectedCandidate + (action == .nextCandidate ? 1 : n - 1)) % n
        return .redraw
    case .scrollUp: state.scrollBack += max(1, state.pageSize - 2); return .redraw
    case .scrollDown: state.scrollBack = max(0, state.scrollBack - max(1, state.pageSize - 2)); return .redraw
    case .scrollLineUp: state.scrollBack += 1; return .redraw
    case .scrollLineDown: state.scrollBack = max(0, state.scrollBack - 1); return .redraw
    case .redraw: return [.redraw, .fullRedraw]
    case .detachImage: return detach(&state, index: nil)
    }
}

private func busy(_ state: inout ChatState) -> Reaction {
    state.notice = "a reply is being written: wait, or press Esc to stop it"
    return .redraw
}

private func stop(_ state: inout ChatState) -> Reaction {
    if let i = state.lastAssistantIndex, state.messages[i].status == .streaming {
        state.messages[i].status = .stopped
    }
    state.notice = "stopped"
    return [.cancel, .redraw]
}

func submit(_ state: inout ChatState, now: Double) -> Reaction {
    let text = state.editor.text
    guard !text.allSatisfy(\.isWhitespace) || !state.pendingImages.isEmpty else { return [] }
    if isCommand(text) {
        state.editor.remember(text)
        state.editor.clear()
        return runCommand(&state, text, now: now)
    }
    guard state.mode != .generating else { return busy(&state) }
    // Image paths typed or pasted into the message become attachments (text-only models get the text).
    var body = text
    var reaction: Reaction = []
    if state.info.supportsImages {
        let (rest, paths) = ImagePaths.extract(text, state.files, skipping: state.unreadablePaths)
        if !paths.isEmpty {
            body = rest
            reaction = attach(&state, paths: paths)
        }
    }
    if state.imagesBusy {
        // Nothing is cleared: a failed read leaves the message as typed.
        state.sendWhenReady = true
        state.notice = "reading \(state.imagesBusyCount == 1 ? "the image" : "\(state.imagesBusyCount) images")…: the message goes when ready"
        return reaction.union(.redraw)
    }
    state.sendWhenReady = false
    let images = state.pendingImages.compactMap(\.attachment)
    guard !body.allSatisfy(\.isWhitespace) || !images.isEmpty else { return reaction.union(.redraw) }
    state.editor.remember(text)
    state.editor.clear()
    state.pendingImages = []
    if let i = state.editingIndex {
        state.messages.removeSubrange(i...)
        state.editingIndex = nil
    }
    var message = Message(role: .user, text: body)
    message.images = images
    state.messages.append(message)
    state.scrollBack = 0
    state.notice = nil
    return startReply(&state, now: now)
}

/// Appends an empty assistant reply and plans its generation from the conversation so far.
func startReply(_ state: inout ChatState, now: Double, candidates: Int = 1, temperatures: [Float] = []) -> Reaction {
    let turns = state.turns()
    var message = Message(role: .assistant, text: "", status: .streaming)
    var requests: [ChatRequest] = []
    if candidates > 1 {
        message.candidates = (0..<candidates).map { CandidateReply(requestedTemperature: temperatures.isEmpty ? nil : temperatures[$0]) }
        // One request: the engine decodes the columns together from one prefill, each at its own
        // temperature when given.
        requests = [ChatRequest(messages: turns, sampling: state.settings, maxTokens: state.maxTokens,
                                candidates: candidates, temperatures: temperatures)]
        state.selectedCandidate = 0
    } else {
        requests = [ChatRequest(messages: turns, sampling: state.settings, maxTokens: state.maxTokens)]
    }
    state.messages.append(message)
    state.pendingPlan = GenerationPlan(requests: requests)
    state.mode = .generating
    state.generationStart = now
    state.generatedTokens = 0
    state.firstTokenTime = nil
    state.scrollBack = 0
    // Saved as it goes: the user's message is on disk before the reply starts.
    return [.generate, .redraw, .save]
}

private func regenerate(_ state: inout ChatState, now: Double) -> Reaction {
    guard state.mode != .generating else { return busy(&state) }
    guard state.lastUserIndex != nil else { state.notice = "nothing to answer yet"; return .redraw }
    // The same prompt, settings and seed would give the same reply again: move to the next seed
    // (shown in the status line, so the new reply stays reproducible).
    state.settings.seed = state.settings.seed &+ 1
    if let last = state.messages.last, last.role == .assistant || last.role == .error {
        state.messages.removeLast()
    }
    // Drop trailing errors too, so the reply follows the user's message directly.
    while let last = state.messages.last, last.role != .user { state.messages.removeLast() }
    return startReply(&state, now: now)
}

func startCompare(_ state: inout ChatState, count: Int, temperatures: [Float], now: Double) -> Reaction {
    guard state.mode != .generating else { return busy(&state) }
    guard state.lastUserIndex != nil else { state.notice = "send a message first, then compare replies"; return .redraw }
    while let last = state.messages.last, last.role != .user { state.messages.removeLast() }
    state.lastCompareCount = count
    state.notice = nil
    return startReply(&state, now: now, candidates: count, temperatures: temperatures)
}

private func keep(_ state: inout ChatState, _ index: Int?) -> Reaction {
    guard state.mode != .generating else { return busy(&state) }
    guard let i = state.lastAssistantIndex, state.messages[i].isComparison else {
        state.notice = "no compared replies to keep"
        return .redraw
    }
    let candidates = state.messages[i].candidates
    let k = index ?? state.selectedCandidate
    guard k >= 0, k < candidates.count else {
        state.notice = "there are \(candidates.count) replies"
        return .redraw
    }
    state.messages[i].text = candidates[k].text
    state.messages[i].temperatures = candidates[k].temperatures
    state.messages[i].tokenEnds = candidates[k].tokenEnds
    state.messages[i].candidates = []
    state.messages[i].status = candidates[k].finish == .cancelled ? .stopped : .complete
    state.notice = "kept reply \(k + 1)"
    return [.redraw, .save]
}

// MARK: - Commands

private func runCommand(_ state: inout ChatState, _ text: String, now: Double) -> Reaction {
    let command: SlashCommand
    do { command = try Commands.parse(text) } catch {
        state.notice = "\(error)"
        return .redraw
    }
    switch command {
    case let .set(name, value):
        do {
            try state.applySetting(name, value)
            state.notice = "\(name) = \(value)"
            return state.mode == .generating ? [.redraw, .updateSampling] : .redraw
        } catch {
            state.notice = "\(error)"
            return .redraw
        }
    case let .system(text):
        guard state.mode != .generating else { return busy(&state) }
        state.setSystemPrompt(text)
        state.notice = text.allSatisfy(\.isWhitespace) ? "system message removed" : "system message set"
        return [.redraw, .save]
    case let .compare(count, temps): return startCompare(&state, count: count, temperatures: temps, now: now)
    case let .keep(i): return keep(&state, i)
    case let .save(title):
        if let title { state.sessionTitle = title }
        state.notice = "saved session \(state.sessionID)"
        return [.redraw, .save]
    case let .export(path):
        state.pendingExportPath = path
        return [.redraw, .export]
    case .sessions: return perform(&state, .sessions, now: now)
    case .clear:
        guard state.mode != .generating else { return busy(&state) }
        state.messages.removeAll { $0.role != .system }
        state.contextUsed = 0
        state.notice = "new conversation"
        return [.redraw, .reset]
    case .regenerate: return regenerate(&state, now: now)
    case .edit: return perform(&state, .editLast, now: now)
    case .temps: return perform(&state, .toggleTemperatures, now: now)
    case .sampling: return perform(&state, .toggleSampling, now: now)
    case .help: return perform(&state, .toggleHelp, now: now)
    case let .image(words):
        guard state.info.supportsImages else { return refuseImages(&state) }
        return attach(&state, paths: words.map { state.files.expand(ImagePaths.fromURI($0)) })
    case let .detach(index): return detach(&state, index: index)
    case .quit: return perform(&state, .quit, now: now)
    }
}

// MARK: - Generation events

private func handleBackend(_ state: inout ChatState, _ event: BackendEvent, now: Double) -> Reaction {
    switch event {
    case let .prompt(tokens, _):
        state.contextUsed = tokens
        return .redraw
    case let .token(candidate, text, temperature):
        guard let i = state.lastAssistantIndex else { return [] }
        if state.messages[i].isComparison {
            guard candidate >= 0, candidate < state.messages[i].candidates.count else { return [] }
            state.messages[i].candidates[candidate].text += text
            state.messages[i].candidates[candidate].temperatures.append(temperature)
            state.messages[i].candidates[candidate].tokenEnds =
                (state.messages[i].candidates[candidate].tokenEnds ?? []) + [state.messages[i].candidates[candidate].text.unicodeScalars.count]
        } else {
            guard candidate == 0 else { return [] }
            state.messages[i].text += text
            state.messages[i].temperatures.append(temperature)
            state.messages[i].tokenEnds = (state.messages[i].tokenEnds ?? []) + [state.messages[i].text.unicodeScalars.count]
        }
        if candidate == 0 { state.contextUsed += 1 }
        state.generatedTokens += 1
        if let first = state.firstTokenTime {
            if now > first { state.tokensPerSecond = Double(state.generatedTokens - 1) / (now - first) }
        } else {
            state.firstTokenTime = now
        }
        return .redraw
    case let .text(candidate, text):
        guard let i = state.lastAssistantIndex else { return [] }
        if state.messages[i].isComparison {
            guard candidate >= 0, candidate < state.messages[i].candidates.count else { return [] }
            state.messages[i].candidates[candidate].text += text
        } else if candidate == 0 {
            state.messages[i].text += text
        }
        return .redraw
    case let .candidateFinished(candidate, reason):
        guard let i = state.lastAssistantIndex else { return [] }
        if state.messages[i].isComparison {
            if candidate >= 0, candidate < state.messages[i].candidates.count {
                state.messages[i].candidates[candidate].finish = reason
            }
        } else if reason == .cancelled {
            state.messages[i].status = .stopped
        } else if reason == .contextFull {
            state.notice = "the context is full: /clear starts a new conversation"
        }
        return .redraw
    case let .done(decode, _):
        if decode > 0 { state.tokensPerSecond = decode }
        return .redraw
    }
}
