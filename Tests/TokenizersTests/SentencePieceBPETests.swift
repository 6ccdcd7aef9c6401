import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// Llama 2 / Mistral style BPE (byte fallback, unk, Prepend/Replace normalizers or Metaspace, and the
/// Replace/ByteFallback/Fuse/Strip/Metaspace decoders) against tokenizers, from
/// Scripts/fixtures/make_spbpe_tokenizer_fixture.py.
final class SentencePieceBPETests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let ids_no_special: [Int]
            let decoded: String
            let decoded_skip: String
        }
        let cases: [Case]
    }

    func check(_ name: String) throws {
        let tokenizer = try Tokenizer(directory: Fixtures.url("tokenizers/\(name)"))
        let reference = try Fixtures.decode(Reference.self, "tokenizers/\(name)/reference.json")
        XCTAssertGreaterThan(reference.cases.count, 10)
        for c in reference.cases {
            let label = "\(name): \(c.text.debugDescription)"
            XCTAssertEqual(tokenizer.encode(c.text), c.ids, label)
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false), c.ids_no_special, label)
            XCTAssertEqual(tokenizer.decode(c.ids), c.decoded, label)
            XCTAssertEqual(tokenizer.decode(c.ids, skipSpecialTokens: true), c.decoded_skip, label)
        }
    }

    func testLegacyPrependReplaceByteFallback() throws { try check("spbpe-legacy") }

    func testMetaspace() throws { try check("spbpe-metaspace") }

    /// With byte fallback, streaming must still hold back the partial bytes of 中 and 🍕 and end with the
    /// full text.
    func testStreamingThroughByteFallback() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.url("tokenizers/spbpe-legacy"))
        let ids = tokenizer.encode("unknown: 中文 🍕 ok", addSpecialTokens: false)
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var chunks: [String] = []
        for id in ids { chunks.append(stream.append(id)) }
        chunks.append(stream.flush())
        XCTAssertFalse(chunks.joined().contains("\u{FFFD}"))
        XCTAssertEqual(chunks.joined(), tokenizer.decode(ids))
        XCTAssertTrue(chunks.contains(""), "byte-fallback pieces of one character must be held back")
    }
}
