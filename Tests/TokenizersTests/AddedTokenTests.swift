import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// Added-token flags, ByteLevel's per-piece prefix space and lossy decoding, against tokenizers 0.23
/// run on mutated copies of the fixture tokenizers (the same mutations are applied here).
final class AddedTokenTests: XCTestCase {
    static let expected = #"""
{"qwen2_flags": [["x  <tool_call>  y", [87, 1207, 88]], ["x\n<tool_call>\n\ny", [87, 1207, 88]], ["a</tool_call>b", [64, 27, 14, 463, 78, 75, 62, 729, 75, 29, 65]], ["a </tool_call> b", [64, 220, 1208, 279]], ["</tool_call>", [1208]], ["\u00e9</tool_call>", [127, 102, 27, 14, 463, 78, 75, 62, 729, 75, 29]], ["_</tool_call>", [62, 27, 14, 463, 78, 75, 62, 729, 75, 29]], ["<|im_start|><|im x<|im_end|>", [1201, 1209, 481, 1202]], ["Caf\u00e9 and Cafe\u0301!", [1210, 291, 220, 1210, 0]], ["ab cab ab_ abc ab. (ab)", [1211, 479, 64, 65, 257, 65, 62, 257, 65, 66, 220, 1211, 13, 937, 1211, 8]], [" <tool_call><tool_call> ", [1207, 1207]], ["<tool_call>   </tool_call>", [1207, 1208]]], "smollm2_prefix": [["hello", [305]], ["<|im_start|>hello", [1, 305]], ["hi<|im_end|> there", [281, 75, 2, 1005, 71]], [" already", [260, 78, 354, 696, 91]], ["", []], ["<|im_end|>", [2]], ["a\nb", [260, 201, 68]]], "qwen2_lossy": [[[160, 121, 64], "\ufffda", "\ufffda"], [[156, 222, 64, 172, 253, 246], "\ufffd\ufffda\ufffd", "\ufffd\ufffda\ufffd"], [[187, 127], "\ufffd\ufffd", "\ufffd\ufffd"], [[64, 1201, 169, 254, 222], "a<|im_start|>\ufffd\ufffd\ufffd", "a\ufffd\ufffd\ufffd"]]}
"""#

    var expected: [String: [[Any]]] {
        get throws { try XCTUnwrap(JSONSerialization.jsonObject(with: Data(Self.expected.utf8)) as? [String: [[Any]]]) }
    }

    /// Loads a fixture tokenizer.json, lets `mutate` edit it as a dictionary, builds the tokenizer.
    func mutated(_ name: String, _ mutate: (inout [String: Any]) -> Void) throws -> Tokenizer {
        let data = try Data(contentsOf: Fixtures.url("tokenizers/\(name)/tokenizer.json"))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        mutate(&json)
        return try Tokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json), tokenizerConfigJSON: nil)
    }

    func check(_ tokenizer: Tokenizer, _ key: String) throws {
        let cases = try XCTUnwrap(expected[key])
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let text = try XCTUnwrap(c[0] as? String)
            XCTAssertEqual(tokenizer.encode(text), try XCTUnwrap(c[1] as? [Int]), "\(key): \(text.debugDescription)")
        }
    }

    func testStripSingleWordNormalizedAndLongestFirst() throws {
        let tokenizer = try mutated("qwen2") { json in
            var added = json["added_tokens"] as! [[String: Any]]
            added[7]["lstrip"] = true   // <tool_call>
            added[7]["rstrip"] = true
            added[8]["single_word"] = true   // </tool_call>
            func add(_ id: Int, _ content: String, special: Bool, normalized: Bool, singleWord: Bool = false) {
                added.append(["id": id, "content": content, "single_word": singleWord, "lstrip": false,
                              "rstrip": false, "normalized": normalized, "special": special])
            }
            add(1209, "<|im", special: true, normalized: false)
            add(1210, "Cafe\u{301}", special: false, normalized: true)   // matched after NFC
            add(1211, "ab", special: false, normalized: false, singleWord: true)
            json["added_tokens"] = added
        }
        try check(tokenizer, "qwen2_flags")
    }

    func testByteLevelPrefixSpaceIsAddedPerPiece() throws {
        let tokenizer = try mutated("smollm2") { json in
            var pre = json["pre_tokenizer"] as! [String: Any]
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[1]["add_prefix_space"] = true
            pre["pretokenizers"] = steps
            json["pre_tokenizer"] = pre
        }
        try check(tokenizer, "smollm2_prefix")
    }

    func testInvalidUTF8DecodesLikeReplaceErrors() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.url("tokenizers/qwen2"))
        for c in try XCTUnwrap(expected["qwen2_lossy"]) {
            let ids = try XCTUnwrap(c[0] as? [Int])
            XCTAssertEqual(tokenizer.decode(ids), try XCTUnwrap(c[1] as? String), "\(ids)")
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), try XCTUnwrap(c[2] as? String), "\(ids)")
            // Streaming never crashes on garbage and ends with the same text.
            var stream = StreamingDetokenizer(tokenizer: tokenizer)
            let text = ids.map { stream.append($0) }.joined() + stream.flush()
            XCTAssertEqual(text, try XCTUnwrap(c[1] as? String))
        }
        // Ids outside the vocabulary are dropped, as tokenizers does.
        XCTAssertEqual(tokenizer.decode([-1, 64, 1_000_000]), "a")
    }
}
