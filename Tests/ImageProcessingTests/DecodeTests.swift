import Foundation
import ImageProcessing
import TestSupport
import XCTest

/// Decoding against transformers' `load_image` (PIL open + exif_transpose + convert("RGB")).
final class DecodeTests: XCTestCase {
    private func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try ImageReference.load()
        guard let expected = reference.decode[name] else {
            return XCTFail("no reference for \(name); rerun make_image_fixtures.py", file: file, line: line)
        }
        let image = try ImageDecoder.decode(path: ImageReference.path(name))
        assertMatches(image, expected, name, file: file, line: line)
    }

    func testBaselineJPEGOddSize420() throws { try check("photo_333x517.jpg") }
    func testProgressiveJPEG422() throws { try check("photo_progressive.jpg") }
    func testJPEG444() throws { try check("photo_444.jpg") }
    func testSmallOddJPEG422() throws { try check("photo_422_odd.jpg") }
    func testGrayscaleJPEG() throws { try check("gray.jpg") }
    func testAdobeCMYKJPEG() throws { try check("cmyk.jpg") }
    /// Adobe transform 2: libjpeg converts YCCK to CMYK, then Pillow's inverted-CMYK rule applies.
    func testAdobeYCCKJPEG() throws { try check("ycck.jpg") }

    func testEXIFOrientationsLittleEndian() throws {
        for o in 1...8 { try check("exif_orient\(o)_le.jpg") }
    }

    func testEXIFOrientationsBigEndian() throws {
        for o in [3, 6, 8] { try check("exif_orient\(o)_be.jpg") }
    }

    func testXMPOrientationFallback() throws { try check("xmp_orient6.jpg") }
    func testEXIFOrientationTakesPrecedenceOverXMP() throws { try check("exif3_xmp6.jpg") }
    func testPNGeXIfOrientation() throws { try check("exif_orient6.png") }

    func testPNG8BitRGB() throws {
        try check("photo_333x517.png")
        try check("wide_900x200.png")
    }

    func testPNGGrayDepths() throws {
        for name in ["gray1.png", "gray2.png", "gray4.png", "gray8.png"] { try check(name) }
    }

    /// Pillow opens 16-bit gray as "I;16" and convert("RGB") clamps values above 255 (no shift).
    func testPNG16BitGrayClamps() throws { try check("gray16.png") }

    func testPNG16BitColourTakesHighByte() throws {
        for name in ["rgb16.png", "rgba16.png", "la16.png"] { try check(name) }
    }

    func testPNGAlphaIsDroppedNotComposited() throws {
        for name in ["rgba8.png", "la8.png", "palette_trns.png"] { try check(name) }
    }

    func testPNGPaletteIndexBeyondPLTEReadsBlack() throws { try check("palette2_short.png") }
    func testPNGAdam7Interlaced() throws { try check("interlaced.png") }

    func testEveryReferenceImageIsCovered() throws {
        // Guards against fixtures added to the script but never checked here.
        let reference = try ImageReference.load()
        for (name, expected) in reference.decode {
            let image = try ImageDecoder.decode(path: ImageReference.path(name))
            assertMatches(image, expected, name)
        }
    }

    func testDecodeFromMemoryMatchesFile() throws {
        let url = Fixtures.url("images/photo_444.jpg")
        let fromData = try ImageDecoder.decode(data: Data(contentsOf: url), name: "x.jpg")
        XCTAssertEqual(fromData, try ImageDecoder.decode(path: url.path))
    }
}

final class OrientationTests: XCTestCase {
    func testOrientationValuesAndOptOut() throws {
        for o in 1...8 {
            let bytes = try [UInt8](Data(contentsOf: Fixtures.url("images/exif_orient\(o)_le.jpg")))
            XCTAssertEqual(ImageDecoder.orientation(of: bytes, format: .jpeg), o)
        }
        let xmp = try [UInt8](Data(contentsOf: Fixtures.url("images/xmp_orient6.jpg")))
        XCTAssertEqual(ImageDecoder.orientation(of: xmp, format: .jpeg), 6)
        let png = try [UInt8](Data(contentsOf: Fixtures.url("images/exif_orient6.png")))
        XCTAssertEqual(ImageDecoder.orientation(of: png, format: .png), 6)
        let stored = try ImageDecoder.decode(bytes: xmp, applyEXIFOrientation: false)
        XCTAssertEqual(stored.width, 40)
        XCTAssertEqual(stored.applyingEXIFOrientation(6), try ImageDecoder.decode(bytes: xmp))
    }

    func testTransposesComposeLikeTheDihedralGroup() throws {
        let image = RGBImage(width: 3, height: 2, pixels: Array(0..<18))
        // Rotating 90 clockwise (6) then counter-clockwise (8) is the identity; flips are involutions.
        XCTAssertEqual(image.applyingEXIFOrientation(6).applyingEXIFOrientation(8), image)
        for o in [2, 3, 4, 5, 7] {
            XCTAssertEqual(image.applyingEXIFOrientation(o).applyingEXIFOrientation(o), image, "\(o)")
        }
        XCTAssertEqual(image.applyingEXIFOrientation(1), image)
        XCTAssertEqual(image.applyingEXIFOrientation(9), image)
    }
}
