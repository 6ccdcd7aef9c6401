import TerminalUI
import XCTest

final class KeyDecoderTests: XCTestCase {
    func decode(_ s: String) -> [Key] {
        var d = KeyDecoder()
        return d.feed(Array(s.utf8)) + d.flush()
    }

    func testPlainAndControl() {
        XCTAssertEqual(decode("a\r\u{7F}\u{03}\n\t"), [.char("a"), .enter, .backspace, .ctrl("c"), .ctrl("j"), .tab])
    }

    func testArrowsAndFunctionKeys() {
        XCTAssertEqual(decode("\u{1B}[A\u{1B}[B\u{1B}OC\u{1B}[1;5D\u{1B}[5~\u{1B}[6~\u{1B}OP\u{1B}[15~\u{1B}[3~\u{1B}[Z"),
                       [.up, .down, .right, .ctrlLeft, .pageUp, .pageDown, .f(1), .f(5), .delete, .backTab])
    }

    func testAltKeysAndLoneEscape() {
        XCTAssertEqual(decode("\u{1B}b\u{1B}\r\u{1B}\u{7F}"), [.alt("b"), .altEnter, .altBackspace])
        var d = KeyDecoder()
        XCTAssertEqual(d.feed([0x1B]), [])   // could be the start of a sequence
        XCTAssertTrue(d.hasPending)
        XCTAssertEqual(d.flush(), [.escape])
    }

    func testSequenceSplitAcrossReads() {
        var d = KeyDecoder()
        XCTAssertEqual(d.feed([0x1B, 0x5B]), [])
        XCTAssertEqual(d.feed([0x31, 0x3B]), [])
        XCTAssertEqual(d.feed([0x35, 0x43, 0x61]), [.ctrlRight, .char("a")])
    }

    func testUTF8SplitAcrossReads() {
        var d = KeyDecoder()
        let bytes = Array("中".utf8)
        XCTAssertEqual(d.feed(bytes[0..<1]), [])
        XCTAssertEqual(d.feed(bytes[1...]), [.char("中")])
    }

    func testBracketedPasteIsOneEventAndNotInterpreted() {
        var d = KeyDecoder()
        let start = Array("x\u{1B}[200~line1\r\n\u{1B}[Aline2".utf8)
        XCTAssertEqual(d.feed(start), [.char("x")])
        XCTAssertEqual(d.flush(), [])   // a paste waits for its end however long it takes
        XCTAssertEqual(d.feed(Array("\u{1B}[20".utf8)), [])
        XCTAssertEqual(d.feed(Array("1~y".utf8)), [.paste("line1\r\n\u{1B}[Aline2"), .char("y")])
    }
}

final class LineEditorTests: XCTestCase {
    func type(_ e: inout LineEditor, _ s: String) { for c in s { e.handle(.char(c)) } }

    func testEmacsMotionAndKills() {
        var e = LineEditor()
        type(&e, "hello big world")
        e.handle(.ctrl("w"))
        XCTAssertEqual(e.text, "hello big ")
        e.handle(.ctrl("a"))
        e.handle(.alt("f"))
        XCTAssertEqual(e.cursor, 5)
        e.handle(.ctrl("k"))
        XCTAssertEqual(e.text, "hello")
        e.handle(.ctrl("a"))
        e.handle(.ctrl("y"))
        XCTAssertEqual(e.text, " big hello")
        e.handle(.ctrl("e"))
        e.handle(.ctrl("u"))
        XCTAssertEqual(e.text, "")
    }

    func testMultiLineAndVerticalMotion() {
        var e = LineEditor()
        type(&e, "abc")
        e.handle(.altEnter)
        type(&e, "de")
        e.handle(.ctrl("j"))
        type(&e, "fghi")
        XCTAssertEqual(e.text, "abc\nde\nfghi")
        e.handle(.up)   // column 4 on "de" clamps to its end
        XCTAssertEqual(e.cursor, 6)
        e.handle(.up)
        XCTAssertEqual(e.cursor, 2)
        e.handle(.ctrl("a"))
        XCTAssertEqual(e.cursor, 0)
    }

    func testHistoryKeepsTheDraft() {
        var e = LineEditor()
        e.remember("first")
        e.remember("second")
        type(&e, "draft")
        e.handle(.up)
        XCTAssertEqual(e.text, "second")
        e.handle(.up)
        XCTAssertEqual(e.text, "first")
        e.handle(.down)
        e.handle(.down)
        XCTAssertEqual(e.text, "draft")
    }

    func testPasteIsInsertedCleanedAndWhole() {
        var e = LineEditor()
        type(&e, "ab")
        e.handle(.left)
        e.handle(.paste("x\r\ny\t\u{1B}[31mz"))
        XCTAssertEqual(e.text, "ax\ny    zb")
        XCTAssertEqual(e.cursor, 9)
    }

    func testCombiningMarkJoinsTheCharacterBefore() {
        var e = LineEditor()
        type(&e, "e")
        e.handle(.char("\u{301}"))
        XCTAssertEqual(e.chars.count, 1)
        XCTAssertEqual(e.cursor, 1)
    }

    func testLayoutPlacesTheCursorOnWrappedLines() {
        var e = LineEditor()
        type(&e, "你好世界")   // 8 columns in a 5-column field (4 usable: one kept for the cursor)
        let l = e.layout(width: 5)
        XCTAssertEqual(l.lines, ["你好", "世界"])
        XCTAssertEqual(l.cursorRow, 1)
        XCTAssertEqual(l.cursorColumn, 4)
    }
}

final class SanitizerTests: XCTestCase {
    func testEscapeSequencesAreRemoved() {
        XCTAssertEqual(Sanitizer.clean("a\u{1B}[31mred\u{1B}[0m b"), "ared b")
        // OSC 52 would write to the clipboard; OSC 0 retitles the window.
        XCTAssertEqual(Sanitizer.clean("x\u{1B}]52;c;ZXZpbA==\u{07}y\u{1B}]0;title\u{1B}\\z"), "xyz")
        XCTAssertEqual(Sanitizer.clean("\u{9B}2Jq\u{1B}c!"), "q!")
        XCTAssertEqual(Sanitizer.clean("\u{1B}P1;2|data\u{1B}\\ok"), "ok")
    }

    func testControlsTabsAndLineEnds() {
        XCTAssertEqual(Sanitizer.clean("a\u{07}\u{08}b\r\nc\rd\te\u{7F}\u{85}"), "ab\nc\nd    e")
        XCTAssertEqual(Sanitizer.clean("file\nname.png", singleLine: true), "file name.png")
    }

    func testBidiOverridesAreRemovedAndTextKept() {
        XCTAssertEqual(Sanitizer.clean("abc\u{202E}fed\u{2066}x\u{2069}"), "abcfedx")
        XCTAssertEqual(Sanitizer.clean("中文 😀 é"), "中文 😀 é")
    }

    func testCleanMappedGivesEachOutputScalarItsSource() {
        let (text, origins) = Sanitizer.cleanMapped("a\u{1B}[1mb\tc\r\nd")
        XCTAssertEqual(text, "ab    c\nd")
        // a=0, ESC [ 1 m = 1...4, b=5, tab=6 (four spaces), c=7, CR LF = 8, 9 (the LF is kept), d=10
        XCTAssertEqual(origins, [0, 5, 6, 6, 6, 6, 7, 9, 10])
    }

    func testUnterminatedSequencesDoNotLeakBytes() {
        XCTAssertEqual(Sanitizer.clean("ok\u{1B}["), "ok")
        XCTAssertEqual(Sanitizer.clean("ok\u{1B}]0;never ends"), "ok")
    }
}

final class ThemeTests: XCTestCase {
    func testParse() throws {
        let t = try Theme.parse("""
        # comment
        status.bar = black on cyan bold
        transcript.user.label = bright-green   # trailing comment
        help.key = 208 underline
        """, name: "t")
        XCTAssertEqual(t[.statusBar], Style(fg: .black, bg: .cyan, [.bold]))
        XCTAssertEqual(t[.userLabel], Style(fg: .index(10)))
        XCTAssertEqual(t[.helpKey], Style(fg: .index(208), [.underline]))
        XCTAssertEqual(t[.notice], Theme.builtinDark[.notice])   // unspecified: the built-in default
    }

    func testErrorsNameTheLine() {
        XCTAssertThrowsError(try Theme.parse("\nstatus.bar = blurple", name: "t", source: "x.theme")) { e in
            XCTAssertEqual(e as? ThemeError, .badValue(word: "blurple", line: 2, source: "x.theme"))
        }
        XCTAssertThrowsError(try Theme.parse("nope = red", name: "t")) { e in
            XCTAssertEqual(e as? ThemeError, .unknownElement(name: "nope", line: 1, source: "theme"))
        }
    }

    func testWithoutColorKeepsAttributes() {
        let t = Theme.builtinDark.withoutColor
        XCTAssertEqual(t[.statusAccent], Style([.bold]))
        XCTAssertEqual(t[.statusBar], Style())
    }
}
