import Foundation
import TestSupport
@testable import Tokenizers
import XCTest

/// Every case in Tests/Fixtures/templates/cases.json was rendered by transformers' own renderer
/// (Scripts/fixtures/make_template_refs.py); the Swift interpreter must match it byte for byte, or fail
/// where jinja2 failed (with the template's own message for raise_exception).
final class JinjaChatTemplateTests: XCTestCase {
    /// The instant the fixture script pinned `strftime_now` to (2025-03-14 09:26:53), rendered in UTC.
    static let fixedEnvironment: ChatTemplateEnvironment = {
        var env = ChatTemplateEnvironment()
        var parts = DateComponents()
        (parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second) = (2025, 3, 14, 9, 26, 53)
        var calendar = Calendar(identifier: .gregorian)
        let utc = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0)!
        calendar.timeZone = utc
        let date = calendar.date(from: parts) ?? Date(timeIntervalSince1970: 0)
        env.now = { date }
        env.timeZone = utc
        return env
    }()

    private struct Case {
        let id: String
        let source: String
        let object: JinjaObject
    }

    /// Loads cases.json, resolving its shared tables (chats, extras, contexts) into each case.
    private func loadCases() throws -> [Case] {
        let data = try Data(contentsOf: Fixtures.url("templates/cases.json"))
        guard case .object(let top) = try JinjaValue(jsonData: data), case .array(let items)? = top["cases"],
              case .object(let chats)? = top["chats"], case .object(let extras)? = top["extras"],
              case .object(let contexts)? = top["contexts"] else {
            throw ChatTemplateError.invalidContext("cases.json lacks cases/chats/extras/contexts")
        }
        return try items.map { item in
            guard case .object(var o) = item, case .string(let id)? = o["id"] else {
                throw ChatTemplateError.invalidContext("case without id")
            }
            if case .object(var chat)? = o["chat"] {
                guard case .string(let chatName)? = chat["messages"], let messages = chats[chatName],
                      case .string(let extraName)? = chat["extra"], let extra = extras[extraName] else {
                    throw ChatTemplateError.invalidContext("\(id): unknown chat or extra")
                }
                chat["messages"] = messages
                chat["extra"] = extra
                o["chat"] = .object(chat)
            }
            if case .string(let ref)? = o["context_ref"] {
                guard let context = contexts[ref] else { throw ChatTemplateError.invalidContext("\(id): unknown context") }
                o["context"] = context
            }
            let source: String
            switch (o["template"], o["source"]) {
            case (.string(let name)?, _):
                source = try String(contentsOf: Fixtures.url("templates/\(name).jinja"), encoding: .utf8)
            case (_, .string(let s)?):
                source = s
            default:
                throw ChatTemplateError.invalidContext("\(id): no template")
            }
            return Case(id: id, source: source, object: o)
        }
    }

    private func render(_ c: Case) throws -> String {
        let template = try ChatTemplate(c.source, environment: Self.fixedEnvironment)
        if case .object(let chat)? = c.object["chat"] {
            guard case .array(let messages)? = chat["messages"], case .bool(let agp)? = chat["add_generation_prompt"],
                  case .object(let extra)? = chat["extra"] else {
                throw ChatTemplateError.invalidContext("\(c.id): malformed chat")
            }
            func token(_ key: String) -> String? { if case .string(let s)? = chat[key] { return s } else { return nil } }
            return try template.render(messages: messages, addGenerationPrompt: agp, bosToken: token("bos_token"),
                                       eosToken: token("eos_token"),
                                       extra: Dictionary(uniqueKeysWithValues: extra.pairs))
        }
        guard case .object(let context)? = c.object["context"] else {
            throw ChatTemplateError.invalidContext("\(c.id): no context")
        }
        return try template.render(Dictionary(uniqueKeysWithValues: context.pairs))
    }

    func testAllReferenceCases() throws {
        let cases = try loadCases()
        XCTAssertGreaterThan(cases.count, 300)
        var realTemplates = Set<String>()
        for c in cases {
            if case .string(let name)? = c.object["template"] { realTemplates.insert(name) }
            let result = Result { try render(c) }
            if case .string(let expected)? = c.object["expected"] {
                switch result {
                case .success(let got):
                    if got != expected {
                        XCTFail("\(c.id): output differs\n--- expected\n\(expected.debugDescription)\n--- got\n\(got.debugDescription)")
                    }
                case .failure(let error):
                    XCTFail("\(c.id): threw \(error), expected \(expected.debugDescription)")
                }
            } else if case .object(let err)? = c.object["error"], case .string(let kind)? = err["kind"],
                      case .string(let message)? = err["message"] {
                guard case .failure(let error) = result, let templateError = error as? ChatTemplateError else {
                    XCTFail("\(c.id): expected jinja2's \(kind) '\(message)', got \(result)")
                    continue
                }
                switch (kind, templateError) {
                case ("raised", .raised(let got)):
                    XCTAssertEqual(got, message, c.id)
                case ("TemplateSyntaxError", .syntax), ("TemplateAssertionError", .syntax):
                    break
                case (_, .runtime) where kind != "raised" && kind != "TemplateSyntaxError" && kind != "TemplateAssertionError":
                    break
                default:
                    XCTFail("\(c.id): expected jinja2's \(kind) '\(message)', got \(templateError)")
                }
            } else {
                XCTFail("\(c.id): case has neither expected nor error")
            }
        }
        XCTAssertGreaterThanOrEqual(realTemplates.count, 10, "real hub templates exercised")
    }

    // MARK: bounds (Swift-only: jinja2 has no such limits, these guard against hostile templates)

    func testStepBudgetStopsRunawayLoops() throws {
        var limits = ChatTemplateLimits()
        limits.maxSteps = 1_000_000
        // 10^10 iterations of an empty body: iterations themselves must count against the budget.
        let template = try ChatTemplate("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                                        limits: limits)
        XCTAssertThrowsError(try template.render([:])) { error in
            guard case ChatTemplateError.limitExceeded(let message) = error else {
                return XCTFail("expected limitExceeded, got \(error)")
            }
            XCTAssertTrue(message.contains("steps"), message)
        }
    }

    func testDefaultLimits() {
        let limits = ChatTemplateLimits()
        XCTAssertEqual(limits.maxSteps, 10_000_000)
        XCTAssertEqual(limits.maxOutputBytes, 16 << 20)
    }

    func testOutputLimit() throws {
        var limits = ChatTemplateLimits()
        limits.maxOutputBytes = 1000
        let template = try ChatTemplate("{% for i in range(1000) %}{{ 'abcdefgh' }}{% endfor %}", limits: limits)
        XCTAssertThrowsError(try template.render([:])) { error in
            guard case ChatTemplateError.limitExceeded(let message) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(message.contains("output"), message)
        }
        // Exploding strings are refused before they are built.
        let doubling = try ChatTemplate("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
                                        limits: limits)
        XCTAssertThrowsError(try doubling.render([:])) { error in
            guard case ChatTemplateError.limitExceeded = error else { return XCTFail("got \(error)") }
        }
        XCTAssertThrowsError(try ChatTemplate("{{ 'x' * 100000000000 }}").render([:]))
    }

    func testRecursionLimit() throws {
        let recursive = try ChatTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        XCTAssertThrowsError(try recursive.render([:])) { error in
            guard case ChatTemplateError.limitExceeded(let message) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(message.contains("macro"), message)
        }
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        XCTAssertThrowsError(try ChatTemplate("{{ \(deep) }}")) { error in
            guard case ChatTemplateError.syntax = error else { return XCTFail("got \(error)") }
        }
    }

    // MARK: API details

    func testSyntaxErrorCarriesLine() {
        XCTAssertThrowsError(try ChatTemplate("line one\n{% if x %}\nok\n{{ 1 + }}\n{% endif %}")) { error in
            guard case ChatTemplateError.syntax(_, let line) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(line, 4)
        }
    }

    func testRaiseExceptionMessage() throws {
        let template = try ChatTemplate("{{ raise_exception('Only user and assistant roles are supported!') }}")
        XCTAssertThrowsError(try template.render([:])) { error in
            XCTAssertEqual(error as? ChatTemplateError, .raised("Only user and assistant roles are supported!"))
        }
    }

    func testJSONInitTellsBoolsFromNumbers() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"a": true, "b": 1, "c": 1.5, "d": [false, 0], "e": null, "f": "s"}"#.utf8))
        let value = JinjaValue(json: parsed)
        guard case .object(let o) = value else { return XCTFail("not an object") }
        XCTAssertEqual(o["a"].map(JinjaPythonFormat.repr), "True")
        XCTAssertEqual(o["b"].map(JinjaPythonFormat.repr), "1")
        XCTAssertEqual(o["c"].map(JinjaPythonFormat.repr), "1.5")
        XCTAssertEqual(o["d"].map(JinjaPythonFormat.repr), "[False, 0]")
        XCTAssertEqual(o["e"].map(JinjaPythonFormat.repr), "None")
        XCTAssertEqual(o["f"].map(JinjaPythonFormat.repr), "'s'")
    }

    func testRenderMessagesNormalizesLikeTransformers() throws {
        // None-valued keys are dropped (so `'tool_calls' in message` is false) and reasoning is aliased.
        let template = try ChatTemplate("{% for m in messages %}{{ m.keys() | list }}{{ 'tool_calls' in m }}{% endfor %}|{{ tools }}")
        let message = JinjaValue.object(JinjaObject([("role", .string("assistant")), ("content", .string("x")),
                                                      ("tool_calls", .none), ("reasoning", .string("r"))]))
        let out = try template.render(messages: [message], addGenerationPrompt: false, bosToken: nil, eosToken: nil)
        XCTAssertEqual(out, "['thinking', 'role', 'content', 'reasoning', 'reasoning_content']False|None")
    }
    func testLiteralAPIMatchesReference() throws {
        // The same conversation as the fixture case, built with literals the way app code would.
        let source = try String(contentsOf: Fixtures.url("templates/qwen2-vl-instruct.jinja"), encoding: .utf8)
        let template = try ChatTemplate(source)
        let messages: [JinjaValue] = [
            ["role": "user", "content": [["type": "image"], ["type": "text", "text": "What is in this image?"]]],
        ]
        let out = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
        let reference = try loadCases().first { $0.id == "qwen2-vl-instruct/image_text/none/agp=True" }
        guard case .string(let expected)? = reference?.object["expected"] else { return XCTFail("fixture case missing") }
        XCTAssertEqual(out, expected)
        XCTAssertEqual(out, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                       + "<|vision_start|><|image_pad|><|vision_end|>What is in this image?<|im_end|>\n<|im_start|>assistant\n")
    }
    func testSelectSourceLikeGetChatTemplate() throws {
        let list: JinjaValue = [["name": "default", "template": "D"], ["name": "tool_use", "template": "T"]]
        XCTAssertEqual(try ChatTemplate.selectSource("plain"), "plain")
        XCTAssertEqual(try ChatTemplate.selectSource(list), "D")
        XCTAssertEqual(try ChatTemplate.selectSource(list, hasTools: true), "T")
        XCTAssertEqual(try ChatTemplate.selectSource(list, name: "tool_use"), "T")
        XCTAssertThrowsError(try ChatTemplate.selectSource([["name": "rag", "template": "R"]]))
        XCTAssertThrowsError(try ChatTemplate.selectSource(list, name: "missing"))
    }
    func testSelfNestingAndCyclesAreStopped() throws {
        // Each of these would otherwise build a value deep enough to overflow the stack when printed,
        // compared or freed, or a namespace that contains itself.
        let sources = [
            "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
            "{% set ns = namespace(x=none) %}{% for i in range(100000) %}{% set ns.x = namespace(x=ns.x) %}{% endfor %}{{ ns.x }}",
            "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'a': ns.x} %}{% endfor %}{{ ns.x | tojson }}",
            "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = dict(a=ns.x) %}{% endfor %}{{ ns.x }}",
        ]
        for source in sources {
            XCTAssertThrowsError(try ChatTemplate(source).render([:]), source) { error in
                guard case ChatTemplateError.limitExceeded(let message) = error else { return XCTFail("\(source): \(error)") }
                XCTAssertTrue(message.contains("nested"), message)
            }
        }
        let cycle = try ChatTemplate("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}")
        XCTAssertThrowsError(try cycle.render([:])) { error in
            guard case ChatTemplateError.limitExceeded = error else { return XCTFail("\(error)") }
        }
        // Ordinary accumulation stays fine.
        let ok = try ChatTemplate("{% set ns = namespace(items=[]) %}{% for i in range(200) %}{% set ns.items = ns.items + [{'i': i}] %}{% endfor %}{{ ns.items | length }}")
        XCTAssertEqual(try ok.render([:]), "200")
    }
    func testWidthsAndRepeatsAreBounded() throws {
        // Each would allocate gigabytes (or overflow an Int) before anything reached the output.
        let sources = [
            "{{ 'x' * 100000000000 }}", "{{ 'x' * 9223372036854775807 }}", "{{ [1, 2] * 4611686018427387904 }}",
            "{{ '%999999999s' % 1 }}", "{{ 'x'.center(999999999) }}", "{{ '{:>999999999}'.format(1) }}",
            "{{ 'x' | center(999999999) }}", "{{ 'x'.zfill(999999999) }}", "{{ 'a\nb' | indent(999999999) }}",
            "{{ [1] | tojson(indent=999999999) }}", "{{ [1] | batch(999999999, 0) | list }}",
            "{% set ns = namespace(s='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') %}{% for i in range(20) %}{% set ns.s = ns.s.replace('a', ns.s) %}{% endfor %}",
        ]
        var limits = ChatTemplateLimits()
        limits.maxOutputBytes = 1 << 20
        for source in sources {
            XCTAssertThrowsError(try ChatTemplate(source, limits: limits).render([:]), source) { error in
                guard case ChatTemplateError.limitExceeded = error else { return XCTFail("\(source): \(error)") }
            }
        }
    }
    func testUnsupportedFiltersFailOnlyWhenReached() throws {
        let template = try ChatTemplate("{% if debug %}{{ messages | pprint }}{% endif %}ok")
        XCTAssertEqual(try template.render(["messages": [], "debug": false]), "ok")
        XCTAssertThrowsError(try template.render(["messages": [], "debug": true]))
    }
}
