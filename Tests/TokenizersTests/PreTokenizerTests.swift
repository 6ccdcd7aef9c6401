import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// Pre-tokenization of awkward whitespace and case-folding input, against tokenizers 0.23
/// (`pre_tokenizer.pre_tokenize_str`, run on the fixture tokenizers). ICU and Oniguruma must agree on
/// \s (U+000B, U+0085, U+1680, U+3000 ...) and on (?i:...) for the split regexes.
final class PreTokenizerTests: XCTestCase {
    static let expected = #"""
{"qwen2": [["a\u000bb c", ["a", "\u010bb", "\u0120c"]], ["x\u0085y z", ["x", "\u00c2\u0127y", "\u0120z"]], ["n\u00a0o p", ["n", "\u00c2\u0142o", "\u0120p"]], ["q\u3000 r", ["q", "\u00e3\u0122\u0122", "\u0120r"]], ["s\u200b t", ["s", "\u00e2\u0122\u012d", "\u0120t"]], ["u \u000b\u000b v", ["u", "\u0120\u010b\u010b", "\u0120v"]], ["1\u00a0 2", ["1", "\u00c2\u0142", "\u0120", "2"]], ["\u2028line\u2029 x", ["\u00e2\u0122\u00a8line", "\u00e2\u0122\u00a9", "\u0120x"]], ["x\f\r\n y", ["x", "\u010c\u010d\u010a", "\u0120y"]], ["A  \u0085\u0085B", ["A", "\u0120\u0120\u00c2\u0127", "\u00c2\u0127B"]], ["x\u1680\u1680y", ["x", "\u00e1\u013c\u0122", "\u00e1\u013c\u0122y"]], ["\u017f'S '\u017f x'\u017f", ["\u00c5\u00bf", "'S", "\u0120'", "\u00c5\u00bf", "\u0120x", "'\u00c5\u00bf"]]], "llama3": [["a\u000bb c", ["a", "\u010bb", "\u0120c"]], ["x\u0085y z", ["x", "\u00c2\u0127y", "\u0120z"]], ["n\u00a0o p", ["n", "\u00c2\u0142o", "\u0120p"]], ["q\u3000 r", ["q", "\u00e3\u0122\u0122", "\u0120r"]], ["s\u200b t", ["s", "\u00e2\u0122\u012d", "\u0120t"]], ["u \u000b\u000b v", ["u", "\u0120\u010b\u010b", "\u0120v"]], ["1\u00a0 2", ["1", "\u00c2\u0142", "\u0120", "2"]], ["\u2028line\u2029 x", ["\u00e2\u0122\u00a8line", "\u00e2\u0122\u00a9", "\u0120x"]], ["x\f\r\n y", ["x", "\u010c\u010d\u010a", "\u0120y"]], ["A  \u0085\u0085B", ["A", "\u0120\u0120\u00c2\u0127", "\u00c2\u0127B"]], ["x\u1680\u1680y", ["x", "\u00e1\u013c\u0122", "\u00e1\u013c\u0122y"]], ["\u017f'S '\u017f x'\u017f", ["\u00c5\u00bf", "'S", "\u0120'", "\u00c5\u00bf", "\u0120x", "'\u00c5\u00bf"]]], "smollm2": [["a\u000bb c", ["a", "\u010b", "b", "\u0120c"]], ["x\u0085y z", ["x", "\u00c2\u0127", "y", "\u0120z"]], ["n\u00a0o p", ["n", "\u00c2\u0142", "o", "\u0120p"]], ["q\u3000 r", ["q", "\u00e3\u0122\u0122", "\u0120r"]], ["s\u200b t", ["s", "\u00e2\u0122\u012d", "\u0120t"]], ["u \u000b\u000b v", ["u", "\u0120\u010b\u010b", "\u0120v"]], ["1\u00a0 2", ["1", "\u00c2\u0142\u0120", "2"]], ["\u2028line\u2029 x", ["\u00e2\u0122\u00a8", "line", "\u00e2\u0122\u00a9", "\u0120x"]], ["x\f\r\n y", ["x", "\u010c\u010d\u010a", "\u0120y"]], ["A  \u0085\u0085B", ["A", "\u0120\u0120\u00c2\u0127", "\u00c2\u0127", "B"]], ["x\u1680\u1680y", ["x", "\u00e1\u013c\u0122", "\u00e1\u013c\u0122", "y"]], ["\u017f'S '\u017f x'\u017f", ["\u00c5\u00bf", "'", "S", "\u0120'", "\u00c5\u00bf", "\u0120x", "'", "\u00c5\u00bf"]]]}
"""#

    func testSplitMatchesTokenizers() throws {
        let all = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(Self.expected.utf8)) as? [String: [[Any]]])
        for (name, cases) in all {
            let tokenizer = try Tokenizer(directory: Fixtures.url("tokenizers/\(name)"))
            let pre = try XCTUnwrap(tokenizer.preTokenizer)
            for c in cases {
                let text = try XCTUnwrap(c[0] as? String)
                let pieces = try XCTUnwrap(c[1] as? [String])
                XCTAssertEqual(pre.split([text], firstAtStart: true), pieces, "\(name): \(text.debugDescription)")
            }
        }
    }

    func make(_ json: String) throws -> any PreTokenizer {
        try PreTokenizers.make(JSONReader.parse(Data(json.utf8), file: "test"))
    }

    /// Splits inside grapheme clusters (digit + combining mark, "\r\n") must cut at scalar boundaries,
    /// as Rust does; expected values from tokenizers 0.23 `pre_tokenize_str`.
    func testSubGraphemeSplitsAndOtherPreTokenizers() throws {
        XCTAssertEqual(try make(#"{"type": "Digits", "individual_digits": true}"#).split(["1\u{301}2\r\n3"], firstAtStart: true),
                       ["1", "\u{301}", "2", "\r\n", "3"])
        let seq = try make(#"{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": false},"# +
                           #" {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]}"#)
        XCTAssertEqual(seq.split(["ab1\u{301}22 x\r\n\u{301}y"], firstAtStart: true),
                       ["ab", "1", "Ìģ", "22", "Ġx", "č", "Ċ", "Ìģ", "y"])
        XCTAssertEqual(try make(#"{"type": "Punctuation", "behavior": "Isolated"}"#).split(["a.\u{301}b!!"], firstAtStart: true),
                       ["a", ".", "\u{301}b", "!", "!"])
        XCTAssertEqual(try make(#"{"type": "WhitespaceSplit"}"#).split([" a\r\n b\u{3000}c "], firstAtStart: true),
                       ["a", "b", "c"])
        XCTAssertEqual(try make(#"{"type": "Whitespace"}"#).split(["héllo, wörld!! 12"], firstAtStart: true),
                       ["héllo", ",", "wörld", "!!", "12"])
    }
}
