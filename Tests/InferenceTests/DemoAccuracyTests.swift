import Foundation
import XCTest
@testable import Inference
import TestSupport

/// The bundled demo model answers questions about pictures it never saw (drawn from a seed training
/// never used, Scripts/demo-model/make_eval_set.py) through Squint's own engine, greedy, one question
/// per picture, reported per kind against the goals (90% right on colour, shape and count questions,
/// 75% on position and on reading the written word). A kind the shipped model reaches under transformers
/// must reach its goal through Squint; one it falls short on (its card says which) must be within 10
/// points of transformers' accuracy, and the test prints NOT MET for it.
final class DemoAccuracyTests: XCTestCase {
    private var evalDir: URL { Fixtures.url("demo/eval") }

    private func cases() throws -> (cases: [[String: Any]], goals: [String: Double]) {
        let path = evalDir.appendingPathComponent("cases.json")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path.path), "no demo eval set")
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any])
        return (root["cases"] as! [[String: Any]], root["goals"] as! [String: Double])
    }

    /// The fact a reference value names, in the checker's spelling (numbers as digits, nil as "none").
    private func fact(_ value: Any?) -> String {
        switch value {
        case let n as NSNumber: return n.stringValue
        case let s as String: return s
        default: return "none"
        }
    }

    /// Our port of the Python checker reads the same fact as the Python checker from every reply
    /// transformers gave, so the accuracy below is judged exactly as `evaluate.py` judges it.
    func testCheckerPortAgreesWithThePythonChecker() throws {
        let (all, _) = try cases()
        XCTAssertGreaterThan(all.count, 100)
        for c in all {
            let kind = c["kind"] as! String
            let reply = c["transformers_reply"] as! String
            XCTAssertEqual(DemoAnswerChecker.extract(kind: kind, reply: reply), fact(c["transformers_read"]),
                           "\(kind): \(reply)")
        }
        // Hand-made replies covering each rule: longest phrase first, edges before the centre, ambiguity.
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "position", reply: "It is in the top left corner."), "top left")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "position", reply: "At the top, in the middle."), "top")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "position", reply: "It is in the middle."), "centre")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "position", reply: "三角形在右下角。"), "bottom right")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "colour", reply: "It is red or blue."), "ambiguous")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "colour", reply: "它是紫色。"), "purple")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "count_kind", reply: "There are no stars."), "0")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "count", reply: "有两个形状。"), "2")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "shape", reply: "Nothing."), "?")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "read", reply: #"The text reads "CAT"."#), "CAT")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "read", reply: "写着“12”。"), "12")
        XCTAssertEqual(DemoAnswerChecker.extract(kind: "read", reply: "Nothing is written in this picture."), "none")
    }

    func testAccuracyPerKindThroughTheEngine() async throws {
        let (all, goals) = try cases()
        let model = Fixtures.repoRoot.appendingPathComponent("Assets/demo-model")
        let engine = try InferenceEngine(directory: model)
        var right: [String: (ok: Int, n: Int)] = [:]
        var sameAsTransformers = 0
        var wrong: [String] = []
        for c in all {
            let kind = c["kind"] as! String
            let question = c["question"] as! String
            var request = GenerationRequest(prompt: .chat([ChatMessage(role: "user", parts: [.image, .text(question)])]))
            request.images = [evalDir.appendingPathComponent(c["image"] as! String).path]
            request.sampling.temperature = 0
            request.maxTokens = 48
            await engine.resetContext()
            let reply = try await engine.complete(request).candidates[0].text
            let ok = DemoAnswerChecker.extract(kind: kind, reply: reply) == fact(c["truth"])
            right[kind, default: (0, 0)].ok += ok ? 1 : 0
            right[kind, default: (0, 0)].n += 1
            if reply == c["transformers_reply"] as? String { sameAsTransformers += 1 }
            if !ok { wrong.append("[\(kind)] \(question) -> \(reply) (truth \(fact(c["truth"])))") }
        }
        var report = "demo model accuracy (Squint engine, greedy, \(all.count) unseen pictures):\n"
        for kind in ["colour", "shape", "count", "count_kind", "position", "read"] {
            guard let r = right[kind] else {
                XCTFail("no \(kind) cases")
                continue
            }
            let accuracy = Double(r.ok) / Double(r.n)
            let goal = goals[kind] ?? 1
            // The issue's goal where the model reaches it under transformers; where the shipped model falls
            // short of it (see its card), Squint must still do as well as transformers does on it.
            let reference = all.filter { $0["kind"] as? String == kind }
            let transformers = Double(reference.filter { fact($0["transformers_read"]) == fact($0["truth"]) }.count) / Double(reference.count)
            let floor = transformers >= goal ? goal : transformers - 0.1
            report += "  " + kind.padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(format: "%5.1f%% of %d (transformers %5.1f%%, goal %.0f%%)", 100 * accuracy, r.n, 100 * transformers, 100 * goal)
                + (accuracy >= goal ? "\n" : " NOT MET\n")
            XCTAssertGreaterThanOrEqual(accuracy, floor, "\(kind) accuracy")
        }
        report += "  replies identical to transformers': \(sameAsTransformers) of \(all.count)\n"
        print(report + wrong.prefix(12).map { "  wrong: \($0)" }.joined(separator: "\n"))
        // Same weights, same greedy decoding: Squint and transformers should agree on nearly every reply
        // (a near-tie between two tokens may go either way under different float summation orders).
        XCTAssertGreaterThanOrEqual(Double(sameAsTransformers), 0.95 * Double(all.count), "agreement with transformers")
    }
}

/// A port of `qa.extract` (Scripts/demo-model/qa.py): the fact a reply states for a question kind, or
/// "?" when it names none and "ambiguous" when it names several.
enum DemoAnswerChecker {
    static let colours = ["red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "orange": "橙色",
                          "purple": "紫色", "pink": "粉色"]
    static let colourOrder = ["red", "green", "blue", "yellow", "orange", "purple", "pink"]
    static let shapes = ["circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形", "diamond": "菱形",
                         "hexagon": "六边形", "cross": "十字形"]
    static let shapeOrder = ["circle", "square", "triangle", "star", "diamond", "hexagon", "cross"]
    static let positions = ["top left": "左上角", "top": "上方中间", "top right": "右上角", "left": "左边中间",
                            "centre": "正中间", "right": "右边中间", "bottom left": "左下角", "bottom": "下方中间",
                            "bottom right": "右下角"]
    static let positionOrder = ["top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom",
                                "bottom right"]
    static let enNumbers = ["zero", "one", "two", "three", "four", "five"]
    static let zhNumbers = ["零", "一", "两", "三", "四", "五"]

    static func normalise(_ text: String) -> String {
        var t = text.lowercased()
        for (a, b) in [("color", "colour"), ("center", "centre"), ("upper", "top"), ("lower", "bottom"), ("-", " ")] {
            t = t.replacingOccurrences(of: a, with: b)
        }
        return t.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Names whose phrases occur in the text, longest phrase first (a phrase found is blanked out, so
    /// "top left" does not also count as "top"); ties keep the listed order, as Python's stable sort does.
    static func found(_ text: String, _ names: [(String, [String])]) -> Set<String> {
        var t = text
        var hits = Set<String>()
        let phrases = names.flatMap { name, list in list.map { ($0, name) } }
        let ordered = phrases.enumerated().sorted {
            let (a, b) = ($0.element.0.unicodeScalars.count, $1.element.0.unicodeScalars.count)
            return a != b ? a > b : $0.offset < $1.offset
        }
        for (_, (phrase, name)) in ordered where t.contains(phrase) {
            hits.insert(name)
            t = t.replacingOccurrences(of: phrase, with: " ")
        }
        return hits
    }

    static func extract(kind: String, reply: String) -> String {
        let t = normalise(reply)
        let hits: Set<String>
        switch kind {
        case "colour":
            hits = found(t, colourOrder.map { c in (c, [c, colours[c]!, String(colours[c]!.prefix(1)) + "的"]) })
        case "shape":
            hits = found(t, shapeOrder.map { s in (s, [s, shapes[s]!]) })
        case "count", "count_kind":
            var names = (0...5).map { n in ("\(n)", [enNumbers[n], "\(n)", zhNumbers[n] + "个", "\(n)个"]) }
            names[0].1 += ["none", "no ", "没有"]
            names[2].1 += ["二个"]
            hits = found(t, names)
        case "position":
            var names: [String: [String]] = [:]
            for p in positionOrder { names[p] = [positions[p]!] + (p.contains(" ") ? ["\(p) corner", p] : []) }
            names["top"]! += ["at the top", "top edge", "上方"]
            names["bottom"]! += ["at the bottom", "bottom edge", "下方"]
            names["left"]! += ["on the left", "left side", "left edge", "左边"]
            names["right"]! += ["on the right", "right side", "right edge", "右边"]
            names["centre"]! += ["centre", "middle", "中间"]
            // "at the top, in the middle" names the top edge: edges before the centre.
            let edges = found(t, positionOrder.filter { $0 != "centre" }.map { ($0, names[$0]!) })
            hits = edges.isEmpty ? found(t, [("centre", names["centre"]!)]) : edges
        case "read":
            if t.contains("nothing") || t.contains("没有写") { return "none" }
            // re.search(r'["“]([^"”]+)["”]', reply): the first opening quote followed by a non-empty text
            // and a closing quote.
            var i = reply.startIndex
            while let open = reply[i...].firstIndex(where: { $0 == "\"" || $0 == "“" }) {
                let rest = reply[reply.index(after: open)...]
                guard let close = rest.firstIndex(where: { $0 == "\"" || $0 == "”" }) else { return "?" }
                if close > rest.startIndex { return rest[..<close].trimmingCharacters(in: .whitespacesAndNewlines) }
                i = reply.index(after: open)
            }
            return "?"
        default:
            return "none"
        }
        if hits.count == 1 { return hits.first! }
        return hits.isEmpty ? "?" : "ambiguous"
    }
}
