import Foundation
import TestSupport
import XCTest

extension EndToEndTests {
    /// `squint chat --model minicpmv.gguf PICTURE` under tmux: the MiniCPM-V GGUF pair (mmproj found beside
    /// the model) opens with the picture's token cost (a 300x100 picture: overview + 3 slices of 64), and a
    /// question about it gets a streamed reply.
    func testMiniCPMVGGUFChatUnderTmux() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "no tmux")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: BinaryRunner.squintURL.path), "squint not built")
        let model = Fixtures.url("gguf-minicpmv/minicpmv-f32.gguf").path
        let picture = Fixtures.url("gguf-minicpmv/images/wide.png").path
        try XCTSkipUnless(FileManager.default.fileExists(atPath: model), "gguf-minicpmv fixtures missing")
        let data = try Fixtures.temporaryDirectory("squint-e2e-minicpmv")
        defer {
            _ = try? tmux(["kill-server"])
            try? FileManager.default.removeItem(at: data)
        }
        let command = "env XDG_DATA_HOME=\(data.path) TERM=xterm-256color LANG=C.UTF-8 "
            + "\(BinaryRunner.squintURL.path) chat --model \(model) --seed 1 --temp 0 --max-tokens 12 \(picture) "
            + "2>\(data.path)/stderr.txt; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "t", "-x", "120", "-y", "36", command])
        _ = try wait(for: "the attached picture") {
            $0.contains("wide.png") && $0.contains("256 tokens") && $0.contains("ready")
        }
        try tmux(["send-keys", "-t", "t", "What is in the picture?", "Enter"])
        _ = try wait(for: "the reply", timeout: 30) { pane in
            // The reply under the model's name, then ready again, the family in the status bar.
            let lines = pane.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard let i = lines.lastIndex(of: "minicpmv-f32.gguf"), i + 1 < lines.count else { return false }
            return !lines[i + 1].trimmingCharacters(in: .whitespaces).isEmpty && pane.contains("What is in the picture?")
                && pane.contains("MiniCPM-V (GGUF)") && pane.contains("ready")
        }
        try tmux(["send-keys", "-t", "t", "C-c"])
        _ = try wait(for: "the quit question") { $0.contains("quit?") }
        try tmux(["send-keys", "-t", "t", "C-c"])
        _ = try wait(for: "exit") { $0.contains("EXIT=0") }
    }
}
