import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

final class BPEModelTests: XCTestCase {
    /// The heap merge (used for long words) must give exactly what the simple lowest-rank-leftmost scan
    /// gives; random words over frequent letters hit many competing and equal-rank merges.
    func testHeapMergeEqualsScanMerge() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.url("tokenizers/qwen2"))
        let model = tokenizer.model
        let alphabet = Array("etaoinshrdlu Ġthe".unicodeScalars)
        var rng = SystemRandomNumberGenerator()
        var compared = 0
        for _ in 0..<400 {
            let n = Int.random(in: 2...80, using: &rng)
            var word = String.UnicodeScalarView()
            for _ in 0..<n { word.append(alphabet.randomElement(using: &rng)!) }
            let text = ByteLevel.encode(String(word))
            var scan = model.initialSymbols(text)
            var heap = scan
            model.mergeByScan(&scan)
            model.mergeByHeap(&heap)
            XCTAssertEqual(scan, heap, text)
            compared += 1
        }
        XCTAssertEqual(compared, 400)
    }

    func testByteLevelAlphabetRoundTrips() {
        let all = (0...255).map { UInt8($0) }
        let encoded = ByteLevel.encode(String(decoding: all.filter { $0 < 0x80 }, as: UTF8.self))
        var back: [UInt8] = []
        ByteLevel.decode(encoded, into: &back)
        XCTAssertEqual(back, all.filter { $0 < 0x80 })
        XCTAssertEqual(ByteLevel.byteToScalar[0x20], "\u{120}")     // space -> Ġ
        XCTAssertEqual(ByteLevel.byteToScalar[0x0A], "\u{10A}")     // newline -> Ċ
        XCTAssertEqual(ByteLevel.byteToScalar[0x41], "A")
        XCTAssertEqual(Set(ByteLevel.byteToScalar).count, 256)
        // A token with a character outside the alphabet decodes to its own UTF-8 bytes, whole.
        var bytes: [UInt8] = []
        ByteLevel.decode("Ġ中", into: &bytes)
        XCTAssertEqual(bytes, Array("Ġ中".utf8))
    }

    func testIncompleteTailDetection() {
        XCTAssertEqual(UTF8Util.incompleteTailStart([]), 0)
        XCTAssertEqual(UTF8Util.incompleteTailStart(Array("ab".utf8)), 2)
        XCTAssertEqual(UTF8Util.incompleteTailStart([0x61, 0xE4, 0xBD]), 1)        // "a" + 2/3 of 你
        XCTAssertEqual(UTF8Util.incompleteTailStart([0x61, 0xE4, 0xBD, 0xA0]), 4)  // complete
        XCTAssertEqual(UTF8Util.incompleteTailStart([0xF0, 0x9F, 0x98]), 0)        // 3/4 of an emoji
        XCTAssertEqual(UTF8Util.incompleteTailStart([0x61, 0xE0, 0x80]), 3)        // E0 80 can never be valid
        XCTAssertEqual(UTF8Util.incompleteTailStart([0x61, 0xBD]), 2)              // stray continuation
        XCTAssertEqual(UTF8Util.incompleteTailStart([0x61, 0xF5]), 2)              // never a lead byte
        XCTAssertEqual(UTF8Util.lossy([0xE0, 0x80, 0x61, 0xF0, 0x9F, 0x98]), "\u{FFFD}\u{FFFD}a\u{FFFD}")
    }

    func testByteKeyDistinguishesCanonicallyEquivalentStrings() {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        XCTAssertEqual(nfc, nfd)   // Swift String equality is canonical...
        XCTAssertNotEqual(ByteKey(nfc), ByteKey(nfd))   // ...vocabulary lookups must not be.
        XCTAssertEqual(ByteKey(nfc), ByteKey(String(nfc.unicodeScalars)))
    }
}

final class ConcurrencyTests: XCTestCase {
    /// One tokenizer shared by many tasks (the word cache is the only mutable state) gives the same ids
    /// as a sequential run.
    func testConcurrentEncodeIsConsistent() async throws {
        let tokenizer = try Tokenizer(directory: Fixtures.url("tokenizers/qwen2"))
        let texts = (0..<64).map { i in "Request \(i): 今天天气很好 \(String(repeating: "ab", count: i)) 🍕 <|im_end|>" }
        let expected = texts.map { tokenizer.encode($0) }
        let results = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (i, text) in texts.enumerated() {
                group.addTask { (i, tokenizer.encode(text)) }
            }
            var out = [[Int]](repeating: [], count: texts.count)
            for await (i, ids) in group { out[i] = ids }
            return out
        }
        XCTAssertEqual(results, expected)
        XCTAssertEqual(tokenizer.decode(expected[5]), texts[5])
    }
}
