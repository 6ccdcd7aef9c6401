import ChatApp
import Foundation
import Sampling
import TerminalUI
import XCTest

/// A backend that streams scripted tokens; the temperature reported for each token is the one in
/// force when it was "sampled", so live updates can be checked.
final class FakeBackend: ChatBackend, @unchecked Sendable {
    let info = ModelInfo(name: "tiny-qwen", family: "qwen2", contextLength: 4096)
    private let lock = NSLock()
    private var replies: [[String]]
    private var cancelled = false
    private var temperature: Float = 0
    private(set) var requests: [ChatRequest] = []
    private(set) var updates: [SamplerSettings] = []
    /// Pause between tokens (seconds).
    var delay: Double

    init(replies: [[String]], delay: Double = 0) {
        self.replies = replies
        self.delay = delay
    }

    func generate(_ request: ChatRequest) -> AsyncThrowingStream<BackendEvent, Error> {
        lock.lock()
        requests.append(request)
        let tokens = replies.isEmpty ? ["ok"] : replies.removeFirst()
        cancelled = false
        temperature = request.sampling.temperature
        lock.unlock()
        let delay = self.delay
        return AsyncThrowingStream { continuation in
            Task {
                continuation.yield(.prompt(tokens: 10 * request.messages.count, reused: 0))
                var reason = StopReason.stop
                for candidate in 0..<request.candidates {
                    for t in tokens {
                        if self.isCancelled { reason = .cancelled; break }
                        if delay > 0 { try? await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
                        // Per-column temperatures, moved by live changes as the engine does.
                        let shift = self.currentTemperature - request.sampling.temperature
                        let temperature = request.temperatures.isEmpty ? self.currentTemperature
                            : shift == 0 ? request.temperatures[candidate] : request.temperatures[candidate] + shift
                        continuation.yield(.token(candidate: candidate, text: candidate == 0 ? t : "\(t)\(candidate)",
                                                  temperature: temperature))
                    }
                    continuation.yield(.candidateFinished(candidate: candidate, reason: reason))
                }
                continuation.yield(.done(decodeTokensPerSecond: 42, prefillTokensPerSecond: 100))
                continuation.finish()
            }
        }
    }

    var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
    var currentTemperature: Float { lock.lock(); defer { lock.unlock() }; return temperature }

    func updateSampling(_ settings: SamplerSettings) async {
        lock.withLock { updates.append(settings); temperature = settings.temperature }
    }

    func cancel() async { lock.withLock { cancelled = true } }

    func promptTokenCount(_ messages: [ChatTurn]) async -> Int? { messages.count * 10 }
}

func makeState() -> ChatState {
    ChatState(info: ModelInfo(name: "tiny-qwen", family: "qwen2", contextLength: 4096), sessionID: "20261125-000000-0000")
}

@discardableResult
func send(_ state: inout ChatState, _ keys: [Key], now: Double = 0) -> Reaction {
    var r: Reaction = []
    for k in keys { r.formUnion(reduce(&state, .input(.key(k)), now: now)) }
    return r
}

func typing(_ s: String) -> [Key] { s.map { Key.char($0) } }

/// Compares `text` with Tests/Snapshots/ChatApp/NAME.txt (outside the test target's directory, so
/// SwiftPM does not ask for them to be declared as resources). SQUINT_RECORD_SNAPSHOTS=1 rewrites the file; a missing
/// file is recorded and the test fails so that a new snapshot is looked at before it is committed.
func assertSnapshot(_ text: String, named name: String, file: StaticString = #filePath, line: UInt = #line) {
    let url = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Snapshots/ChatApp/\(name).txt")
    let framed = text.split(separator: "\n", omittingEmptySubsequences: false).map { "|" + $0 }.joined(separator: "\n") + "\n"
    let record = ProcessInfo.processInfo.environment["SQUINT_RECORD_SNAPSHOTS"] == "1"
    guard !record, let expected = try? String(contentsOf: url, encoding: .utf8) else {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? framed.write(to: url, atomically: true, encoding: .utf8)
        if !record { XCTFail("recorded new snapshot \(name); check it and run again", file: file, line: line) }
        return
    }
    if expected != framed {
        XCTFail("snapshot \(name) differs (SQUINT_RECORD_SNAPSHOTS=1 re-records):\n--- expected\n\(expected)--- actual\n\(framed)", file: file, line: line)
    }
}
