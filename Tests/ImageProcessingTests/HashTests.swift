@testable import ImageProcessing
import XCTest

final class HashTests: XCTestCase {
    override func tearDown() {
        useAcceleratedSHA256(true)
    }

    /// FIPS 180-4 example vectors, through whichever implementation is active.
    private func assertVectors(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(sha256Hex(Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", file: file, line: line)
        XCTAssertEqual(sha256Hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                       file: file, line: line)
        let two = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        XCTAssertEqual(sha256Hex(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                       file: file, line: line)
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(sha256Hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                       file: file, line: line)
    }

    func testPortableMatchesFIPSVectors() {
        useAcceleratedSHA256(false)
        assertVectors()
    }

    func testAcceleratedMatchesFIPSVectorsAndPortable() throws {
        guard useAcceleratedSHA256(true) else { throw XCTSkip("CPU has no SHA extensions") }
        assertVectors()
        var rng = SystemRandomNumberGenerator()
        for length in Array(0...200) + [4095, 4096, 4097, 1 << 20] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            useAcceleratedSHA256(true)
            let fast = sha256Hex(bytes)
            useAcceleratedSHA256(false)
            XCTAssertEqual(fast, sha256Hex(bytes), "length \(length)")
        }
    }

    func testContentHashIsIndependentOfBackend() {
        let image = RGBImage(width: 40, height: 30, fill: (3, 4, 5))
        useAcceleratedSHA256(false)
        let portable = image.contentHash
        useAcceleratedSHA256(true)
        XCTAssertEqual(image.contentHash, portable)
    }
}
