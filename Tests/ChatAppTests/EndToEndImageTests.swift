import Foundation
import TestSupport
import XCTest

/// The whole walk through the real binary under tmux: a picture attached from the command line,
/// a streamed reply, the temperature raised mid-reply and shown in the status bar, /compare 3 in three
/// columns, one kept, quit, and the terminal back to normal. SQUINT_TOKEN_DELAY_MS slows the tiny fixture
/// model to human speed so that "mid-reply" exists.
extension EndToEndTests {
    func testImageReplyLiveTemperatureAndCompareUnderTmux() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        let vlModel = Fixtures.url("vl/qwen2-vl-v4").path
        let photo = Fixtures.url("vl/images/photo.jpg").path
        let data = try Fixtures.temporaryDirectory("squint-e2e-img")
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(at: data)
        }
        let command = "env XDG_DATA_HOME=\(data.path) TERM=xterm-256color LANG=C.UTF-8 SQUINT_TOKEN_DELAY_MS=40 "
            + "\(BinaryRunner.squintURL.path) chat --model \(vlModel) --seed 1 --temp 0.8 --max-tokens 80 \(photo) "
            + "2>\(data.path)/stderr.txt; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "120", "-y", "36", command])

        // Conditions go inside the waits: capture-pane may catch a frame half drawn.
        var text = try wait(for: "the attached picture") {
            $0.contains("photo.jpg") && $0.contains("54 tokens") && $0.contains("ready")
        }
        try tmux(["send-keys", "-t", "t", "What colour is the circle?", "Enter"])
        text = try wait(for: "the reply streaming") { $0.contains("writing") && $0.contains("T 0.80") }
        // Raise the temperature while the reply is still being written.
        try tmux(["send-keys", "-t", "t", "F8"])
        text = try wait(for: "the new temperature mid-reply") { $0.contains("T 0.85") && $0.contains("writing") }
        text = try wait(for: "the end of the reply", timeout: 30) {
            $0.contains("ready") && $0.contains("What colour is the circle?")
        }

        try tmux(["send-keys", "-t", "t", "/compare 3", "Enter"])
        text = try wait(for: "three columns", timeout: 30) { pane in
            pane.contains("3 replies") && pane.contains("distinct-1") && pane.contains("ready")
                && pane.split(separator: "\n").contains { $0.hasPrefix("1 ") && $0.contains(" 2 ") && $0.contains(" 3") }
        }
        try tmux(["send-keys", "-t", "t", "Tab"])
        try tmux(["send-keys", "-t", "t", "M-k"])
        text = try wait(for: "the kept reply") { !$0.contains("3 replies") }

        try tmux(["send-keys", "-t", "t", "C-c"])
        _ = try wait(for: "the quit question") { $0.contains("quit?") }
        try tmux(["send-keys", "-t", "t", "C-c"])
        text = try wait(for: "exit") { $0.contains("EXIT=0") }
        XCTAssertEqual(try tmux(["display", "-p", "-t", "t", "#{alternate_on}"]).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        // The saved session holds the picture (by path) and the kept reply.
        let dir = data.appendingPathComponent("squint/sessions")
        let file = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasSuffix(".json") })
        let saved = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
        XCTAssertTrue(saved.contains("photo.jpg"), saved)
    }
}

extension EndToEndTests {
    /// `squint` with no arguments opens the chat with the bundled demo model and a sample picture
    /// attached, and says how to use a real model. (A copy of the Qwen2-VL fixture stands in for
    /// Assets/demo-model here, found through SQUINT_ASSETS.)
    func testNoArgumentsOpensTheDemoChat() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        let assets = try Fixtures.temporaryDirectory("squint-assets")
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(at: assets)
        }
        try FileManager.default.copyItem(at: Fixtures.url("vl/qwen2-vl-v4"), to: assets.appendingPathComponent("demo-model"))
        try FileManager.default.createDirectory(at: assets.appendingPathComponent("samples"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("vl/images/photo.jpg"), to: assets.appendingPathComponent("samples/photo.jpg"))
        let command = "env SQUINT_ASSETS=\(assets.path) XDG_DATA_HOME=\(assets.path)/data TERM=xterm-256color LANG=C.UTF-8 "
            + "\(BinaryRunner.squintURL.path) 2>/dev/null; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "110", "-y", "30", command])
        _ = try wait(for: "the demo chat") {
            $0.contains("demo model") && $0.contains("squint --model DIR") && $0.contains("photo.jpg") && $0.contains("ready")
        }
        try tmux(["send-keys", "-t", "t", "C-c"])
        try tmux(["send-keys", "-t", "t", "C-c"])
        _ = try wait(for: "exit") { $0.contains("EXIT=0") }
    }
}

extension EndToEndTests {
    /// A TERM terminfo does not know is a one-line error, not a silent exit inside initscr().
    func testUnknownTerminalTypeIsAClearError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        defer { _ = try? tmux(["kill-server"]) }
        let command = "env TERM=squint-no-such-term \(BinaryRunner.squintURL.path) chat --model \(model); echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "120", "-y", "20", command])
        let text = try wait(for: "the error") { $0.contains("EXIT=") }
        XCTAssertTrue(text.contains("squint: error:") && text.contains("squint-no-such-term"), text)
        XCTAssertTrue(text.contains("EXIT=1"), text)
    }
}

extension EndToEndTests {
    /// The real demo model under tmux: `squint` with no arguments attaches the first sample picture, and
    /// asking what colour one of its shapes is streams a reply naming the colour the picture generator
    /// drew (the truth recorded beside the sample in Tests/Fixtures/demo/reference.json), and no other.
    func testDemoChatNamesTheColourOfAShape() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        let assets = Fixtures.repoRoot.appendingPathComponent("Assets")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: assets.appendingPathComponent("demo-model/config.json").path),
                          "no demo model")
        let ref = try XCTUnwrap(try Fixtures.json("demo/reference.json") as? [String: Any])
        let cases = try XCTUnwrap(ref["cases"] as? [[String: Any]])
        // The chat attaches the first sample in name order.
        let first = try XCTUnwrap(cases.first { ($0["image"] as? String) == "Assets/samples/shapes-1.png" })
        let truth = try XCTUnwrap(first["truth"] as? [String: Any])
        let shapes = try XCTUnwrap(truth["shapes"] as? [[String: Any]])
        let kinds = shapes.compactMap { $0["kind"] as? String }
        let asked = try XCTUnwrap(shapes.first { s in kinds.filter { $0 == (s["kind"] as? String) }.count == 1 },
                                  "the first sample has no shape of a kind of its own")
        let kind = try XCTUnwrap(asked["kind"] as? String), colour = try XCTUnwrap(asked["colour"] as? String)
        let data = try Fixtures.temporaryDirectory("squint-demo")
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(at: data)
        }
        let command = "env SQUINT_ASSETS=\(assets.path) XDG_DATA_HOME=\(data.path) TERM=xterm-256color LANG=C.UTF-8 "
            + "\(BinaryRunner.squintURL.path) 2>\(data.path)/stderr.txt; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "110", "-y", "30", command])
        _ = try wait(for: "the demo chat", timeout: 30) { $0.contains("shapes-1.png") && $0.contains("ready") }
        let question = "What colour is the \(kind)?"
        try tmux(["send-keys", "-t", "t", question, "Enter"])
        let colours = ["red", "green", "blue", "yellow", "orange", "purple", "pink"]
        func words(after question: String, in pane: String) -> [String] {
            guard let r = pane.range(of: question, options: .backwards) else { return [] }
            return pane[r.upperBound...].lowercased().split { !$0.isLetter }.map(String.init)
        }
        let text = try wait(for: "a reply naming a colour", timeout: 60) { pane in
            words(after: question, in: pane).contains { colours.contains($0) } && pane.contains("ready")
        }
        let named = Set(words(after: question, in: text).filter { colours.contains($0) })
        XCTAssertEqual(named, [colour], "asked \(question) about the \(colour) \(kind); pane:\n\(text)")
        try tmux(["send-keys", "-t", "t", "C-c"])
        try tmux(["send-keys", "-t", "t", "C-c"])
        _ = try wait(for: "exit") { $0.contains("EXIT=0") }
    }
}
