import TerminalUI
import XCTest

final class PaletteTests: XCTestCase {
    /// Expected indices: a brute-force nearest (squared RGB distance, lowest index on ties) over xterm's
    /// entries 16-255 (cube levels 0, 95, 135, ..., 255; greys 8 + 10k), computed in Python.
    func testNearest256MatchesABruteForceSearch() {
        let cases: [((UInt8, UInt8, UInt8), UInt8)] = [
            ((0, 0, 0), 16), ((255, 255, 255), 231), ((128, 128, 128), 244), ((255, 0, 0), 196), ((95, 135, 175), 67),
            ((10, 200, 30), 40), ((250, 250, 245), 231), ((47, 48, 49), 236), ((114, 115, 116), 243), ((200, 100, 50), 167),
            ((68, 32, 130), 54), ((60, 253, 230), 86), ((241, 194, 107), 215), ((48, 249, 14), 82), ((199, 221, 1), 184),
            ((228, 136, 117), 174),
        ]
        for (c, expected) in cases {
            XCTAssertEqual(Palette.index256(c.0, c.1, c.2), expected, "\(c)")
        }
    }

    func testPaletteValuesAndSixteenColours() {
        XCTAssertTrue(Palette.rgb(ofIndex: 16) == (0, 0, 0))
        XCTAssertTrue(Palette.rgb(ofIndex: 67) == (95, 135, 175))
        XCTAssertTrue(Palette.rgb(ofIndex: 231) == (255, 255, 255))
        XCTAssertTrue(Palette.rgb(ofIndex: 232) == (8, 8, 8))
        XCTAssertTrue(Palette.rgb(ofIndex: 255) == (238, 238, 238))
        // Every cube and grey entry maps back to itself.
        for i in 16...255 {
            let (r, g, b) = Palette.rgb(ofIndex: UInt8(i))
            XCTAssertEqual(Int(Palette.index256(r, g, b)), i)
        }
        XCTAssertEqual(Palette.index16(250, 10, 10), 9)
        XCTAssertEqual(Palette.index16(250, 10, 10, count: 8), 1)
    }

    func testRGBCellsCompareAndDraw() {
        var canvas = Canvas(size: Size(width: 4, height: 1))
        canvas.put("▀", x: 1, y: 0, style: Style(fg: .rgb(1, 2, 3), bg: .rgb(4, 5, 6)))
        XCTAssertEqual(canvas[1, 0].style.fg, .rgb(1, 2, 3))
        XCTAssertNotEqual(canvas[1, 0].style.bg, .rgb(4, 5, 7))
        XCTAssertEqual(canvas.text(), " ▀")
    }
}
