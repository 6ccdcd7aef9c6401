import Foundation
import TestSupport
import XCTest

/// The real `squint chat` under tmux: keys in, the pane's text out.
final class EndToEndTests: XCTestCase {
    let model = Fixtures.url("models/qwen2-v4").path
    /// One tmux server per test (XCTest makes an instance per test method), so a test never meets the
    /// previous one's server while it shuts down.
    let socket = "squint-e2e-\(getpid())-\(UUID().uuidString.prefix(8))"

    /// Runs tmux through system(3), not Process: corelibs Foundation notices a child's exit through a
    /// descriptor the child inherits, and the tmux server (a daemon forked from the first client) would
    /// keep it open, so waiting for that client never ended.
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket)-out.txt")
        let line = (["/usr/bin/tmux", "-L", socket, "-f", "/dev/null"] + args).map(quote).joined(separator: " ")
        let status = system(line + " </dev/null >" + quote(out.path) + " 2>/dev/null")
        guard status == 0 else { throw TmuxError(command: args.joined(separator: " "), status: status) }
        return (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    }

    struct TmuxError: Error { var command: String; var status: Int32 }

    func pane() throws -> String { try tmux(["capture-pane", "-p", "-t", "t"]) }

    func wait(for what: String, timeout: Double = 20, _ test: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = ""
        while Date() < deadline {
            text = try pane()
            if test(text) { return text }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("timed out waiting for \(what); pane:\n\(text)")
        return text
    }

    func testChatUnderTmux() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "fixture missing")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        let data = try Fixtures.temporaryDirectory("squint-e2e")
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(at: data)
        }
        let command = "env XDG_DATA_HOME=\(data.path) TERM=xterm-256color LANG=C.UTF-8 \(BinaryRunner.squintURL.path) chat "
            + "--model \(model) --seed 1 --temp 0 --max-tokens 24 2>\(data.path)/stderr.txt; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command])

        var text = try wait(for: "the first frame") { $0.contains("ready") }
        XCTAssertTrue(text.contains("qwen2-v4 (Qwen2)"), text)
        XCTAssertTrue(text.contains("T 0.00") && text.contains("seed 1"), text)

        try tmux(["send-keys", "-t", "t", "Hello 你好", "Enter"])
        text = try wait(for: "the reply") { $0.contains("You") && $0.contains("ready") && !$0.contains("ctx 0/") }
        XCTAssertTrue(text.contains("Hello 你好"), text)

        try tmux(["send-keys", "-t", "t", "F2"])
        // Wait for the whole panel: capture-pane may catch a frame half drawn.
        text = try wait(for: "the sampling panel") { $0.contains("Sampling") && $0.contains("repeat-penalty") }
        try tmux(["send-keys", "-t", "t", "Escape"])
        _ = try wait(for: "the panel to close") { !$0.contains("Sampling") }

        try tmux(["resize-window", "-t", "t", "-x", "30", "-y", "10"])
        _ = try wait(for: "the too-small screen") { $0.contains("Terminal too small") }
        try tmux(["resize-window", "-t", "t", "-x", "44", "-y", "13"])
        text = try wait(for: "a 44x13 frame") { $0.contains("ready") && !$0.contains("too small") }
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(rows.contains { $0.contains("│ T 0.00") }, text)

        try tmux(["resize-window", "-t", "t", "-x", "80", "-y", "24"])
        try tmux(["send-keys", "-t", "t", "/compare 2", "Enter"])
        text = try wait(for: "compared replies") { $0.contains("distinct-1") && $0.contains("ready") }

        try tmux(["send-keys", "-t", "t", "C-c"])
        _ = try wait(for: "the quit question") { $0.contains("quit?") }
        try tmux(["send-keys", "-t", "t", "C-c"])
        text = try wait(for: "exit") { $0.contains("EXIT=0") }
        XCTAssertTrue(text.contains("--resume"), text)
        XCTAssertEqual(try tmux(["display", "-p", "-t", "t", "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let sessions = try FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("squint/sessions").path)
        XCTAssertEqual(sessions.filter { $0.hasSuffix(".json") }.count, 1)
    }

    /// SIGTERM and SIGHUP end the loop in order; a crash signal restores the terminal from the handler.
    /// Either way the terminal leaves the alternate screen and what went to stderr is shown.
    func testTerminalIsRestoredOnSignals() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "fixture missing")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        let data = try Fixtures.temporaryDirectory("squint-signals")
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(at: data)
        }
        for (name, number) in [("TERM", SIGTERM), ("HUP", SIGHUP), ("ABRT", SIGABRT)] {
            let err = data.appendingPathComponent("\(name).txt").path
            // exec: the pane's process is squint itself, so its pid is the pane's.
            let command = "exec env XDG_DATA_HOME=\(data.path) TERM=xterm-256color LANG=C.UTF-8 "
                + "\(BinaryRunner.squintURL.path) chat --model \(model) 2>\(err)"
            try tmux(["new-session", "-d", "-s", "t", "-x", "60", "-y", "16", command])
            try tmux(["set-option", "-t", "t", "remain-on-exit", "on"])
            _ = try wait(for: "the first frame (\(name))") { $0.contains("ready") }
            XCTAssertEqual(try tmux(["display", "-p", "-t", "t", "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "1")
            let pid = try XCTUnwrap(Int32(try tmux(["display", "-p", "-t", "t", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)))
            kill(pid, number)
            let deadline = Date().addingTimeInterval(10)
            while try tmux(["display", "-p", "-t", "t", "#{pane_dead}"]).hasPrefix("0"), Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
            XCTAssertEqual(try tmux(["display", "-p", "-t", "t", "#{pane_dead}"]).trimmingCharacters(in: .whitespacesAndNewlines), "1", name)
            XCTAssertEqual(try tmux(["display", "-p", "-t", "t", "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0", name)
            let log = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            XCTAssertTrue(log.contains("squint: loading"), "\(name): stderr: \(log)")
            if number == SIGABRT { XCTAssertTrue(log.contains("the terminal was restored"), log) }
            try tmux(["kill-session", "-t", "t"])
        }
    }
}
