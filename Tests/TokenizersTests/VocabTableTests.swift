import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// The flat vocabulary table behaves as the tokenizers library's vocab / vocab_r maps do. Expected
/// values are what tokenizers 0.23 gives for the same tokenizer.json (`Tokenizer.from_str`):
/// get_vocab() == {b:1, a:2, ab:3, c:7, ééé-long-...:9}, id_to_token(0) is None, token_to_id("a") == 2,
/// encode("ab a b c") == [3, 2, 1, 7], decode([0, 2, 3, 7, 9]) == "a ab c ééé-long-...".
final class VocabTableTests: XCTestCase {
    static let long = "ééé-long-token-text-beyond-fifteen-bytes"
    static let json = """
    {"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},
     "post_processor":null,"decoder":null,
     "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
              "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
              "vocab":{"a":0,"b":1,"a":2,"ab":3,"c":7,"\(long)":9},"merges":[["a","b"]]}}
    """

    func testDuplicateTextsGapsAndLongTextsAsTokenizersDoes() throws {
        let t = try Tokenizer(tokenizerJSON: Data(Self.json.utf8), tokenizerConfigJSON: nil)
        // A text given twice maps to its last id; the earlier id has no text.
        XCTAssertEqual(t.id(forToken: "a"), 2)
        XCTAssertNil(t.token(forID: 0))
        XCTAssertEqual(t.token(forID: 2), "a")
        XCTAssertEqual(t.token(forID: 1), "b")
        XCTAssertEqual(t.token(forID: 3), "ab")
        // Gaps and ids past the end have no text.
        for id in [4, 5, 6, 8, 10, -1] { XCTAssertNil(t.token(forID: id), "\(id)") }
        // A text stored on the heap (over 15 UTF-8 bytes), and one made of pieces (not contiguous).
        XCTAssertEqual(t.token(forID: 9), Self.long)
        XCTAssertEqual(t.id(forToken: Self.long), 9)
        let pieced = String(Self.long.prefix(3)) + String(Self.long.dropFirst(3))
        XCTAssertEqual(t.id(forToken: pieced), 9)
        XCTAssertNil(t.id(forToken: "zz"))
        XCTAssertNil(t.id(forToken: ""))
        XCTAssertEqual(t.encode("ab a b c", addSpecialTokens: false), [3, 2, 1, 7])
        XCTAssertEqual(t.vocabularySize, 10)   // one past the largest id
    }

    /// Every token of the Qwen2 fixture vocabulary (byte-level, multi-byte, long) maps to its id and back.
    func testEveryQwen2TokenRoundTrips() throws {
        let url = Fixtures.url("tokenizers/qwen2/tokenizer.json")
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let vocab = try XCTUnwrap((root["model"] as? [String: Any])?["vocab"] as? [String: Int])
        let t = try Tokenizer(directory: url.deletingLastPathComponent())
        for (text, id) in vocab {
            XCTAssertEqual(t.model.id(for: text), id, text)
            XCTAssertEqual(t.model.token(for: id), text, "\(id)")
        }
        XCTAssertEqual(t.model.vocab.count, (vocab.values.max() ?? -1) + 1)
    }
}
