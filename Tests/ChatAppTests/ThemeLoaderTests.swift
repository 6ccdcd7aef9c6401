@testable import ChatApp
import Foundation
import TerminalUI
import TestSupport
import XCTest

final class ThemeLoaderTests: XCTestCase {
    /// As if squint ran from .build/debug in this checkout.
    let executable = Fixtures.repoRoot.appendingPathComponent(".build/debug/squint")

    func testCommittedThemesParseAndNameOnlyKnownElements() throws {
        for name in ["dark", "light", "monochrome"] {
            let url = Fixtures.repoRoot.appendingPathComponent("Themes/\(name).theme")
            let theme = try Theme.parse(String(contentsOf: url, encoding: .utf8), name: name, source: url.path)
            XCTAssertFalse(theme.styles.isEmpty, name)
        }
        // The dark file writes out the built-in default exactly.
        let dark = try Theme.parse(String(contentsOf: Fixtures.repoRoot.appendingPathComponent("Themes/dark.theme"), encoding: .utf8), name: "dark")
        for e in Element.allCases { XCTAssertEqual(dark[e], Theme.builtinDark[e], e.rawValue) }
    }

    func testLookupByNameNoColorAndMissing() throws {
        let light = try ThemeLoader.load("light", environment: [:], executable: executable)
        XCTAssertEqual(light.name, "light")
        XCTAssertEqual(light[.statusBar], Style(fg: .black, bg: .index(252)))
        let plain = try ThemeLoader.load("light", environment: ["NO_COLOR": "1"], executable: executable)
        XCTAssertEqual(plain[.statusBar], Style())
        XCTAssertEqual(plain[.statusAccent], Style([.bold]))
        // An empty NO_COLOR does not count (no-color.org).
        XCTAssertEqual(try ThemeLoader.load(nil, environment: ["NO_COLOR": ""], executable: executable), .builtinDark)
        XCTAssertThrowsError(try ThemeLoader.load("nope", environment: [:], executable: executable)) { error in
            guard case let .notFound(name, searched)? = error as? ThemeError else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "nope")
            XCTAssertFalse(searched.isEmpty)
        }
        // Built in: works with no files anywhere.
        XCTAssertEqual(try ThemeLoader.load("dark", environment: [:], executable: URL(fileURLWithPath: "/nowhere/squint")), .builtinDark)
        XCTAssertEqual(try ThemeLoader.load("monochrome", environment: [:], executable: URL(fileURLWithPath: "/nowhere/squint"))[.statusBar], Style())
    }

    func testFramesUseTheThemeByElement() {
        var s = makeState()
        s.messages = [Message(role: .user, text: "hi")]
        let f = ChatView.render(s, size: Size(width: 40, height: 12), theme: .builtinDark)
        XCTAssertEqual(f.canvas[0, 11].style, Theme.builtinDark[.statusBar])
        XCTAssertEqual(f.canvas[0, 0].style, Theme.builtinDark[.userLabel])     // "You"
        XCTAssertEqual(f.canvas[2, 1].style, Theme.builtinDark[.userText])      // "hi"
        XCTAssertEqual(f.canvas[0, 10].style, Theme.builtinDark[.inputPrompt])  // ">"
    }
}
