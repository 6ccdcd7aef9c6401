@testable import ChatApp
import Sampling
import TerminalUI
import XCTest

/// Frames drawn through the HeadlessDriver, compared with committed text snapshots.
final class SnapshotTests: XCTestCase {
    func frame(_ state: ChatState, _ width: Int, _ height: Int) -> String {
        let driver = HeadlessDriver(size: Size(width: width, height: height))
        var screen = Canvas(size: driver.size)
        let f = ChatView.render(state, size: driver.size, theme: .builtinDark)
        screen.adopt(f.canvas)
        driver.present(&screen, cursor: f.cursor)
        return driver.frames.last ?? ""
    }

    func conversation() -> ChatState {
        var s = makeState()
        s.settings.seed = 42
        s.messages = [
            Message(role: .user, text: "Say hello in Chinese and Japanese, please."),
            Message(role: .assistant, text: "中文：你好，世界！日本語：こんにちは、世界。Mixed text wraps by width 😀 ok."),
            Message(role: .user, text: "Thanks\nand a second line"),
        ]
        s.contextUsed = 87
        s.tokensPerSecond = 12.5
        return s
    }

    func testTranscriptWrapsCJKAt40x12() {
        let text = frame(conversation(), 40, 12)
        assertSnapshot(text, named: "transcript-cjk-40x12")
        for line in text.split(separator: "\n") { XCTAssertLessThanOrEqual(CharWidth.of(line), 40) }
    }

    func testStreamingReplyWithStoppedMarkAndEscapesRemoved() {
        var s = conversation()
        s.messages.append(Message(role: .assistant, text: "Partial \u{1B}[2J\u{1B}]0;pwned\u{07}answer", status: .stopped))
        s.settings.dynatempRange = 0.3
        s.notice = "stopped"
        let text = frame(s, 60, 14)
        XCTAssertFalse(text.contains("\u{1B}"))
        XCTAssertTrue(text.contains("Partial answer"))
        assertSnapshot(text, named: "stopped-60x14")
    }

    func testStatusShowsTheTemperatureInForce() {
        var s = makeState()
        s.settings.dynatempRange = 0.3
        s.messages = [Message(role: .user, text: "q"), Message(role: .assistant, text: "a b")]
        s.messages[1].temperatures = [0.8, 1.1]
        XCTAssertEqual(ChatView.temperatureText(s), "T 0.80 dyn±0.30 →1.10")
        s.settings.dynatempRange = 0
        s.settings.headTemp = 1.5
        s.settings.headTokens = 8
        s.messages[1].temperatures = [0.8]
        XCTAssertEqual(ChatView.temperatureText(s), "T 0.80 head 1.50×8")
        // Narrow: the family, seed and speed go before the temperature does.
        XCTAssertEqual(ChatView.statusText(s, width: 40), " tiny-qwen │ 0/4096 │ T 0.80 head 1.50×8")
        XCTAssertEqual(ChatView.statusText(s, width: 32), " 0/4096 │ T 0.80 head 1.50×8")
    }

    func testTooSmall() {
        assertSnapshot(frame(conversation(), 30, 8), named: "too-small-30x8")
    }

    func comparison(temps: [Float]?) -> ChatState {
        var s = makeState()
        s.messages = [Message(role: .user, text: "Name a colour.")]
        var m = Message(role: .assistant, text: "", status: .complete)
        let texts = ["Blue, like the sky on a clear day.", "Red is a warm colour.", "Green 绿色 as in leaves."]
        m.candidates = texts.enumerated().map { i, t in
            var c = CandidateReply(text: t, requestedTemperature: temps?[i])
            c.finish = i == 1 ? .length : .stop
            c.temperatures = Array(repeating: temps?[i] ?? 0.8, count: 6)
            return c
        }
        s.messages.append(m)
        s.selectedCandidate = 1
        return s
    }

    func testCompareColumns() {
        assertSnapshot(frame(comparison(temps: [0.3, 0.8, 1.3]), 80, 14), named: "compare-columns-80x14")
    }

    func testCompareColumnsWithTemperaturesLineUp() {
        var s = comparison(temps: [0.3, 0.8, 1.3])
        s.showTemperatures = true
        let text = frame(s, 80, 14)
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        // All three sparklines on one row, under the two-row first reply.
        XCTAssertEqual(rows.filter { $0.contains("▂") || $0.contains("▄") || $0.contains("▆") }.count, 1, text)
        assertSnapshot(text, named: "compare-temperatures-80x14")
    }

    func testCompareTabsWhenNarrow() {
        assertSnapshot(frame(comparison(temps: nil), 40, 14), named: "compare-tabs-40x14")
    }

    func testSamplingPanel() {
        var s = conversation()
        s.overlay = .sampling(selected: 2)
        s.settings.headTemp = 1.2
        s.settings.headTokens = 4
        assertSnapshot(frame(s, 70, 24), named: "sampling-panel-70x24")
    }

    func testSamplingPanelScrollsInASmallWindow() {
        var s = conversation()
        s.overlay = .sampling(selected: 14)
        let text = frame(s, 40, 12)
        XCTAssertTrue(text.contains("head-tokens"), text)
        assertSnapshot(text, named: "sampling-panel-40x12")
    }

    func testTemperatureSparkline() {
        var s = makeState()
        s.messages = [Message(role: .user, text: "hi"), Message(role: .assistant, text: "one two three four")]
        s.messages[1].temperatures = [0.2, 0.6, 1.0, 1.4, 1.9, 0.8]
        s.showTemperatures = true
        assertSnapshot(frame(s, 40, 12), named: "temperatures-40x12")
    }

    func testColourModeStylesEachCharacterByItsToken() {
        var s = makeState()
        s.messages = [Message(role: .user, text: "hi"), Message(role: .assistant, text: "")]
        s.mode = .generating
        // Three tokens: "cold " at 0.2, an escape sequence plus "warm " at 1.0, "hot" at 1.6.
        for (text, t) in [("cold ", Float(0.2)), ("\u{1B}[31mwarm ", 1.0), ("hot", 1.6)] {
            _ = reduce(&s, .backend(.token(candidate: 0, text: text, temperature: t)), now: 0)
        }
        s.temperatureView = .colour
        let f = ChatView.render(s, size: Size(width: 40, height: 12), theme: .builtinDark)
        let row = (0..<12).first { f.canvas.rowText($0).hasPrefix("  cold") } ?? -1
        XCTAssertEqual(f.canvas.rowText(row).trimmingCharacters(in: .whitespaces), "cold warm hot")
        let theme = Theme.builtinDark
        XCTAssertEqual(f.canvas[2, row].style, theme[.tempCold])    // c
        XCTAssertEqual(f.canvas[7, row].style, theme[.tempWarm])    // w
        XCTAssertEqual(f.canvas[12, row].style, theme[.tempHot])    // h
        XCTAssertEqual(f.canvas[14, row].style, theme[.tempHot])    // t
    }

    func testHelpIsDrawnFromTheKeyMap() {
        var s = makeState()
        s.overlay = .help(offset: 0)
        let text = frame(s, 100, 40)
        for b in KeyMap.bindings { XCTAssertTrue(text.contains(b.help), "missing: \(b.help)") }
        assertSnapshot(text, named: "help-100x40")
    }

    func testHelpScrollsInASmallTerminal() {
        var s = makeState()
        s.overlay = .help(offset: 5)
        let text = frame(s, 40, 12)
        XCTAssertTrue(text.contains("6-12/\(HelpView.entries().count)"), text)
        assertSnapshot(text, named: "help-scrolled-40x12")
    }

    func testMultiLineInputGrowsAndKeepsTheCursorVisible() {
        var s = makeState()
        s.editor.setText((1...9).map { "line \($0)" }.joined(separator: "\n"))
        let f = ChatView.render(s, size: Size(width: 40, height: 12), theme: .builtinDark)
        XCTAssertEqual(f.cursor, Point(x: 8, y: 10))   // last visible input row, after "line 9"
        assertSnapshot(f.canvas.text(), named: "multiline-input-40x12")
    }

    func testScrolledBackShowsOlderLinesAndATag() {
        var s = conversation()
        s.scrollBack = 3
        let f = ChatView.render(s, size: Size(width: 40, height: 12), theme: .builtinDark)
        XCTAssertTrue(f.canvas.text().contains("more below"))
        XCTAssertGreaterThanOrEqual(f.maxScrollBack, 3)
        assertSnapshot(f.canvas.text(), named: "scrolled-40x12")
    }
}
