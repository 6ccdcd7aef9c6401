import Foundation
import Sampling
import TerminalUI

/// Events from generation tasks, waiting for the UI loop. Posting wakes the driver's input wait.
final class EventHub: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [AppEvent] = []
    private let waker: Waker

    init(waker: Waker) { self.waker = waker }

    func post(_ event: AppEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
        waker.wake()
    }

    func drain() -> [AppEvent] {
        lock.lock()
        defer { lock.unlock() }
        let out = events
        events.removeAll(keepingCapacity: true)
        return out
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: Bool) { lock.lock(); value = v; lock.unlock() }
}

/// Calls to the backend, kept in order by one consumer task (separate Tasks could reorder two quick
/// temperature changes).
enum BackendControl: Sendable {
    case update(SamplerSettings)
    case cancel
}

/// The one UI loop: reads keys from the driver, takes generation events from the hub, reduces both
/// into state, performs the effects asked for, and redraws once per batch. All driver calls happen
/// here, on the thread that calls `run()` / `step()`.
public final class ChatLoop {
    public private(set) var state: ChatState
    public var theme: Theme
    public let driver: Driver
    let backend: any ChatBackend
    let store: SessionStore?
    let hub: EventHub
    private var screen: Canvas
    private var created = Date()
    private let stopFlag = StopFlag()
    private let control: AsyncStream<BackendControl>.Continuation
    private var generationTask: Task<Void, Never>?
    public private(set) var quit = false
    /// The newest message's row count at the last frame (index, width, rows), for scroll anchoring.
    private var lastBlock: (Int, Int, Int)?
    /// Called after each frame is presented (latency measurements, tests).
    public var onPresent: ((Frame) -> Void)?

    public init(state: ChatState, driver: Driver, backend: any ChatBackend, theme: Theme, store: SessionStore?) {
        self.state = state
        self.driver = driver
        self.backend = backend
        self.theme = theme
        self.store = store
        hub = EventHub(waker: driver.waker)
        screen = Canvas(size: driver.size)
        let (stream, continuation) = AsyncStream.makeStream(of: BackendControl.self)
        control = continuation
        Task.detached {
            for await command in stream {
                switch command {
                case let .update(s): await backend.updateSampling(s)
                case .cancel: await backend.cancel()
                }
            }
        }
    }

    deinit { control.finish() }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Runs until the user quits. Returns the final state.
    @discardableResult
    public func run() -> ChatState {
        redraw()
        while !quit { step() }
        return state
    }

    /// One turn of the loop: waits for input (briefly while a reply streams), applies what came.
    public func step(timeoutMilliseconds: Int? = nil) {
        let timeout = timeoutMilliseconds ?? (state.mode == .generating ? 50 : 500)
        let inputs = driver.readInput(timeoutMilliseconds: timeout)
        var events = inputs.map { AppEvent.input($0) }
        events += hub.drain()
        guard !events.isEmpty else { return }
        var reaction: Reaction = []
        for e in events {
            let r = reduce(&state, e, now: Self.now())
            perform(r)
            reaction.formUnion(r)
            if quit { break }
        }
        if quit {
            stopGeneration()
            return
        }
        if reaction.contains(.fullRedraw) {
            driver.invalidate()
            screen.markAllDirty()
        }
        if reaction.contains(.redraw) { redraw() }
    }

    /// Feeds an event as if it came from the driver or a generation (tests, the signal handlers).
    public func post(_ event: AppEvent) { hub.post(event) }

    public func redraw() {
        // Scrolled back while a reply grows: the rows counted from the bottom move up with every new
        // line, so add the growth to stay on the text being read.
        let size = driver.size
        if let i = state.messages.indices.last {
            let count = state.scrollBack > 0 ? TranscriptView.lines(of: i, state, width: size.width - 1).count : 0
            if state.scrollBack > 0, let (index, width, previous) = lastBlock, index == i, width == size.width, count > previous {
                state.scrollBack += count - previous
            }
            lastBlock = (i, size.width, count)
        }
        let frame = ChatView.render(state, size: size, theme: theme)
        if state.scrollBack > frame.maxScrollBack { state.scrollBack = frame.maxScrollBack }
        state.pageSize = frame.transcriptHeight
        screen.adopt(frame.canvas)
        driver.present(&screen, cursor: frame.cursor)
        onPresent?(frame)
    }

    private func perform(_ r: Reaction) {
        if r.contains(.quit) {
            if r.contains(.save) { save() }
            quit = true
            return
        }
        if r.contains(.cancel) { stopGeneration() }
        if r.contains(.updateSampling) { control.yield(.update(state.settings)) }
        if r.contains(.generate), let plan = state.pendingPlan {
            state.pendingPlan = nil
            startGeneration(plan)
        }
        if r.contains(.save) { save() }
        if r.contains(.export), let path = state.pendingExportPath {
            state.pendingExportPath = nil
            export(path)
        }
        // `.reset` needs nothing here: the engine keeps the longest cached prefix of each new prompt,
        // so a new conversation simply matches less of it.
        if r.contains(.listSessions) { state.sessionList = store?.list() ?? [] }
        if r.contains(.loadImages) { loadImages() }
        if r.contains(.countContext) { countContext() }
        if r.contains(.resume), let id = state.pendingResumeID {
            state.pendingResumeID = nil
            resume(id)
        }
    }

    /// Reads `state.imagesToLoad` one after another on a background queue (decoding is the expensive
    /// part and there are few cores); each result comes back as an `.imageLoaded` event.
    private func loadImages() {
        let paths = state.imagesToLoad
        state.imagesToLoad = []
        let backend = self.backend, hub = self.hub
        for path in paths {
            Self.imageQueue.async {
                let result = ImageLoader.load(path: path) { backend.imageTokenCost(width: $0, height: $1) }
                hub.post(.imageLoaded(path: path, result))
            }
        }
    }

    private static let imageQueue = DispatchQueue(label: "squint.chat.images", qos: .utility)

    /// After a session was restored: checks its images (then counts the context), or counts at once.
    /// Attaches images given on the command line to the first message (read in the background).
    /// `notice` (e.g. a first-run hint) replaces the "attached ..." line.
    public func attachAtStart(_ paths: [String], notice: String? = nil) {
        if !paths.isEmpty {
            let r = attach(&state, paths: paths)
            if r.contains(.loadImages) { loadImages() }
        }
        if let notice { state.notice = notice }
    }

    public func startResumeChecks() {
        let r = state.verifyImages()
        if r.contains(.loadImages) { loadImages() } else { countContext() }
    }

    /// Counts the conversation's tokens in the background (after a resume) for the status line.
    public func countContext() {
        let backend = self.backend, hub = self.hub, turns = state.turns()
        Task.detached {
            if let n = await backend.promptTokenCount(turns) { hub.post(.contextCount(n)) }
        }
    }

    private func stopGeneration() {
        stopFlag.set(true)
        control.yield(.cancel)
    }

    private func startGeneration(_ plan: GenerationPlan) {
        stopFlag.set(false)
        let backend = self.backend, hub = self.hub, stop = self.stopFlag
        generationTask = Task.detached {
            var offset = 0
            for request in plan.requests {
                if stop.isSet { break }
                do {
                    var cancelSent = false
                    for try await event in backend.generate(request) {
                        // A stop that reached the engine before this generation registered would be
                        // lost: repeat it once from here. The stream is still read to its end, so the
                        // engine is free again when `.finished` arrives.
                        if stop.isSet, !cancelSent {
                            cancelSent = true
                            await backend.cancel()
                        }
                        hub.post(.backend(event.shifted(by: offset)))
                    }
                } catch {
                    hub.post(.failed(describe(error)))
                    break
                }
                offset += request.candidates
            }
            hub.post(.finished)
        }
    }

    private func save() {
        guard let store else { return }
        guard state.messages.contains(where: { $0.role == .user }) else { return }
        do { try store.save(state.savedSession(created: created)) } catch {
            state.notice = "\(error)"
        }
    }

    private func export(_ path: String) {
        var expanded = path
        if expanded.hasPrefix("~/") { expanded = NSHomeDirectory() + expanded.dropFirst(1) }
        let url = URL(fileURLWithPath: expanded)
        do {
            try AtomicFile.write(Data(state.markdown().utf8), to: url)
            state.notice = "exported to \(url.path)"
        } catch {
            state.notice = "\(error)"
        }
    }

    private func resume(_ id: String) {
        guard let store else { return }
        do {
            let s = try store.load(id)
            state.restore(s)
            created = s.created
            state.notice = "resumed session \(id)"
            startResumeChecks()
        } catch {
            state.notice = "\(error)"
        }
    }

    /// Waits (stepping the loop) until no generation runs, or the timeout passes. For tests and for
    /// an orderly exit.
    public func settle(timeoutSeconds: Double = 5) {
        let deadline = Self.now() + timeoutSeconds
        while state.mode == .generating, Self.now() < deadline { step(timeoutMilliseconds: 10) }
    }
}

extension BackendEvent {
    func shifted(by offset: Int) -> BackendEvent {
        guard offset != 0 else { return self }
        switch self {
        case let .token(c, text, t): return .token(candidate: c + offset, text: text, temperature: t)
        case let .candidateFinished(c, reason): return .candidateFinished(candidate: c + offset, reason: reason)
        case let .text(c, text): return .text(candidate: c + offset, text: text)
        default: return self
        }
    }
}

/// An error as one line for people.
func describe(_ error: Error) -> String {
    let text = "\(error)"
    return Sanitizer.clean(text, singleLine: true)
}
