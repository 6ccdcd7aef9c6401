import Glibc
import TerminalUI
import XCTest

final class CharWidthTests: XCTestCase {
    func testCommonCases() {
        XCTAssertEqual(CharWidth.of("a" as Character), 1)
        XCTAssertEqual(CharWidth.of("中" as Character), 2)
        XCTAssertEqual(CharWidth.of("한" as Character), 2)
        XCTAssertEqual(CharWidth.of("😀" as Character), 2)
        XCTAssertEqual(CharWidth.of("é" as Character), 1)             // e + combining acute, one cluster
        XCTAssertEqual(CharWidth.of("\u{2764}\u{FE0F}" as Character), 2) // heart with emoji presentation
        XCTAssertEqual(CharWidth.of("🇫🇷" as Character), 2)
        XCTAssertEqual(CharWidth.of("\u{1B}" as Character), 0)
        XCTAssertEqual(CharWidth.of("ｈ" as Character), 2)             // fullwidth Latin
        XCTAssertEqual(CharWidth.of("日本語 ok"), 9)
    }

    /// The reference is glibc's wcwidth in C.UTF-8, which ncursesw uses to place characters: a width that
    /// disagrees with it would shift every cell after the character on the real screen.
    func testAgreesWithGlibcWcwidth() throws {
        guard setlocale(LC_CTYPE, "C.UTF-8") != nil else { throw XCTSkip("no C.UTF-8 locale") }
        defer { setlocale(LC_CTYPE, "C") }
        // Glibc's Swift module does not export wcwidth (it needs _XOPEN_SOURCE): look the symbol up.
        guard let sym = dlsym(dlopen(nil, RTLD_NOW), "wcwidth") else { throw XCTSkip("no wcwidth") }
        let wcwidth = unsafeBitCast(sym, to: (@convention(c) (Int32) -> Int32).self)
        let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0xA0...0x2FF, 0x1100...0x11FF, 0x2000...0x2BFF,
                                             0x2E80...0x9FFF, 0xAC00...0xD7A3, 0xF900...0xFFEF, 0x1F000...0x1FAFF,
                                             0x20000...0x2A6DF]
        var checked = 0
        var mismatches: [String] = []
        for range in ranges {
            for v in range {
                guard let s = Unicode.Scalar(v), s.properties.generalCategory != .unassigned else { continue }
                let reference = wcwidth(Int32(bitPattern: v))
                if reference < 0 { continue }   // newer than this glibc's Unicode tables
                checked += 1
                if CharWidth.of(s) != Int(reference) {
                    mismatches.append(String(v, radix: 16) + " glibc \(reference) ours \(CharWidth.of(s))")
                }
            }
        }
        XCTAssertGreaterThan(checked, 80_000)
        XCTAssertEqual(mismatches, [], "first: \(mismatches.prefix(10))")
    }
}

final class TextWrapTests: XCTestCase {
    func testWordsWrapAtSpaces() {
        XCTAssertEqual(TextWrap.wrap("the quick brown fox", width: 10), ["the quick", "brown fox"])
        XCTAssertEqual(TextWrap.wrap("hello world", width: 5), ["hello", "world"])
    }

    func testLongWordIsCut() {
        XCTAssertEqual(TextWrap.wrap("abcdefghij xy", width: 4), ["abcd", "efgh", "ij", "xy"])
    }

    func testNewlinesAndBlankLines() {
        XCTAssertEqual(TextWrap.wrap("a\n\nb", width: 10), ["a", "", "b"])
        XCTAssertEqual(TextWrap.wrap("", width: 10), [""])
    }

    func testCJKBreaksBetweenCharactersByWidth() {
        // Six wide characters, 12 columns, in 5 columns: two characters (4 columns) a line.
        XCTAssertEqual(TextWrap.wrap("你好世界你好", width: 5), ["你好", "世界", "你好"])
        // Mixed: the Latin word stays whole, CJK may break next to it.
        XCTAssertEqual(TextWrap.wrap("ok 日本語です", width: 7), ["ok 日本", "語です"])
    }

    func testEveryLineFitsItsWidth() {
        let text = "Emoji 😀😀 and 中文 mixed with words that are rather long, ok? 한국어 텍스트."
        for width in 4...30 {
            for line in TextWrap.wrap(text, width: width) {
                XCTAssertLessThanOrEqual(CharWidth.of(line), width, "width \(width): '\(line)'")
            }
        }
    }
}

final class CanvasTests: XCTestCase {
    func testWideCharacterAtTheEdgeBecomesBlank() {
        var c = Canvas(size: Size(width: 5, height: 1))
        let end = c.put("ab中文", x: 0, y: 0)
        XCTAssertEqual(c.rowText(0), "ab中 ")
        XCTAssertEqual(end, 5)
    }

    func testOverwritingHalfAWideCharacterBlanksTheOtherHalf() {
        var c = Canvas(size: Size(width: 6, height: 1))
        c.put("中文字", x: 0, y: 0)
        c.put("x", x: 1, y: 0)   // the right half of 中
        XCTAssertEqual(c.rowText(0), " x文字")
        c.put("y", x: 2, y: 0)   // the left half of 文
        XCTAssertEqual(c.rowText(0), " xy 字")
    }

    func testAdoptMarksOnlyChangedRowsDirty() {
        var screen = Canvas(size: Size(width: 4, height: 3))
        screen.markClean()
        var next = Canvas(size: Size(width: 4, height: 3))
        next.put("hi", x: 0, y: 1)
        screen.adopt(next)
        XCTAssertEqual(screen.dirty, [false, true, false])
        XCTAssertEqual(screen.text(), "\nhi\n")
    }

    func testHeadlessDriverRedrawsOnlyDirtyRows() {
        let driver = HeadlessDriver(size: Size(width: 4, height: 2))
        var screen = Canvas(size: driver.size)
        driver.present(&screen, cursor: nil)
        var next = Canvas(size: driver.size)
        next.put("x", x: 0, y: 1)
        screen.adopt(next)
        driver.present(&screen, cursor: Point(x: 1, y: 1))
        XCTAssertEqual(driver.redrawnRows, [[0, 1], [1]])
        XCTAssertEqual(driver.frames.last, "\nx")
    }
}
