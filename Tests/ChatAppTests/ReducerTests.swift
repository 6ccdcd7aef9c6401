@testable import ChatApp
import Sampling
import TerminalUI
import XCTest

final class ReducerTests: XCTestCase {
    func testSubmitStartsAReply() {
        var s = makeState()
        let r = send(&s, typing("hi") + [.enter])
        XCTAssertTrue(r.contains(.generate))
        XCTAssertEqual(s.mode, .generating)
        XCTAssertEqual(s.messages.map(\.role), [.user, .assistant])
        XCTAssertEqual(s.messages[1].status, .streaming)
        XCTAssertEqual(s.pendingPlan?.requests.map(\.messages), [[ChatTurn(role: "user", text: "hi")]])
        XCTAssertEqual(s.pendingPlan?.requests.first?.candidates, 1)
        XCTAssertTrue(s.editor.isEmpty)
        XCTAssertEqual(s.editor.history, ["hi"])
    }

    func testBlankSubmitDoesNothingAndSubmitWhileBusyIsRefused() {
        var s = makeState()
        send(&s, typing("  "))
        XCTAssertEqual(send(&s, [.enter]), [])
        send(&s, [.ctrl("u")] + typing("one") + [.enter])
        let r = send(&s, typing("two") + [.enter])
        XCTAssertFalse(r.contains(.generate))
        XCTAssertEqual(s.messages.count, 2)
        XCTAssertEqual(s.editor.text, "two")   // kept, to send later
        XCTAssertNotNil(s.notice)
    }

    func testTokensStreamIntoTheReplyAndFinish() {
        var s = makeState()
        send(&s, typing("hi") + [.enter])
        _ = reduce(&s, .backend(.prompt(tokens: 12, reused: 0)), now: 1)
        _ = reduce(&s, .backend(.token(candidate: 0, text: "Hel", temperature: 0.8)), now: 1)
        _ = reduce(&s, .backend(.token(candidate: 0, text: "lo", temperature: 0.85)), now: 1.5)
        _ = reduce(&s, .backend(.token(candidate: 0, text: "!", temperature: 0.85)), now: 2)
        _ = reduce(&s, .backend(.text(candidate: 0, text: "\u{e9}")), now: 2)   // a flushed tail: no token
        XCTAssertEqual(s.messages[1].text, "Hello!\u{e9}")
        XCTAssertEqual(s.messages[1].temperatures, [0.8, 0.85, 0.85])
        XCTAssertEqual(s.contextUsed, 15)
        XCTAssertEqual(s.tokensPerSecond, 2, accuracy: 1e-9)   // 2 tokens after the first, in 1 s
        let r = reduce(&s, .finished, now: 2)
        XCTAssertTrue(r.contains(.save))
        XCTAssertEqual(s.mode, .idle)
        XCTAssertEqual(s.messages[1].status, .complete)
    }

    func testTokenEndsAndTheTemperatureViewCycle() {
        var s = makeState()
        send(&s, typing("hi") + [.enter])
        _ = reduce(&s, .backend(.token(candidate: 0, text: "ab", temperature: 0.8)), now: 0)
        _ = reduce(&s, .backend(.token(candidate: 0, text: "", temperature: 0.8)), now: 0)   // mid-character
        _ = reduce(&s, .backend(.token(candidate: 0, text: "中", temperature: 0.9)), now: 0)
        XCTAssertEqual(s.messages[1].tokenEnds, [2, 2, 3])
        XCTAssertEqual(s.temperatureView, .off)
        send(&s, [.f(3)])
        XCTAssertEqual(s.temperatureView, .sparkline)
        send(&s, [.alt("t")])
        XCTAssertEqual(s.temperatureView, .colour)
        send(&s, [.f(3)])
        XCTAssertEqual(s.temperatureView, .off)
    }

    func testEscapeStopsAndKeepsThePartialReplyMarked() {
        var s = makeState()
        send(&s, typing("hi") + [.enter])
        _ = reduce(&s, .backend(.token(candidate: 0, text: "Part", temperature: 0.8)), now: 0)
        let r = send(&s, [.escape])
        XCTAssertTrue(r.contains(.cancel))
        XCTAssertEqual(s.messages[1].status, .stopped)
        _ = reduce(&s, .backend(.candidateFinished(candidate: 0, reason: .cancelled)), now: 0)
        _ = reduce(&s, .finished, now: 0)
        XCTAssertEqual(s.messages[1].status, .stopped)
        XCTAssertEqual(s.messages[1].text, "Part")
        XCTAssertEqual(s.mode, .idle)
    }

    func testStoppedBeforeTheFirstTokenLeavesNoEmptyReply() {
        var s = makeState()
        send(&s, typing("hi") + [.enter, .escape])
        _ = reduce(&s, .finished, now: 0)
        XCTAssertEqual(s.messages.map(\.role), [.user])
        XCTAssertEqual(s.notice, "stopped before the first token")
        XCTAssertEqual(send(&s, [.ctrl("l")]), [.redraw, .fullRedraw])
    }

    func testCtrlCStopsAGenerationButAsksBeforeQuitting() {
        var s = makeState()
        send(&s, typing("hi") + [.enter])
        XCTAssertTrue(send(&s, [.ctrl("c")]).contains(.cancel))
        XCTAssertFalse(send(&s, [.ctrl("c")]).contains(.quit))   // still generating: stop again, no quit
        _ = reduce(&s, .finished, now: 0)
        XCTAssertFalse(send(&s, [.ctrl("c")]).contains(.quit))
        XCTAssertEqual(s.mode, .confirmQuit)
        XCTAssertFalse(send(&s, [.char("x")]).contains(.quit))   // any other key: stay
        XCTAssertEqual(s.mode, .idle)
        XCTAssertTrue(s.editor.isEmpty)                            // and the key was not typed
        send(&s, [.ctrl("c")])
        XCTAssertTrue(send(&s, [.ctrl("c")]).contains(.quit))
    }

    func testTemperatureKeysStepByFiveHundredthsAndReachTheRunningGeneration() {
        var s = makeState()
        XCTAssertEqual(s.settings.temperature, 0.8)
        XCTAssertEqual(send(&s, [.alt("=")]), .redraw)
        XCTAssertEqual(s.settings.temperature, 0.85)
        for _ in 0..<19 { send(&s, [.f(8)]) }
        XCTAssertEqual(s.settings.temperature, 1.8)   // exact: snapped to the 0.05 grid, no drift
        for _ in 0..<50 { send(&s, [.alt("-")]) }
        XCTAssertEqual(s.settings.temperature, 0)
        send(&s, typing("hi") + [.enter])
        let r = send(&s, [.alt("+")])
        XCTAssertTrue(r.contains(.updateSampling))
        XCTAssertEqual(s.settings.temperature, 0.05)
    }

    func testRegenerateReplacesTheLastReply() {
        var s = makeState()
        send(&s, typing("q") + [.enter])
        _ = reduce(&s, .backend(.token(candidate: 0, text: "a1", temperature: 1)), now: 0)
        _ = reduce(&s, .finished, now: 0)
        let seed = s.settings.seed
        let r = send(&s, [.ctrl("r")])
        XCTAssertTrue(r.contains(.generate))
        XCTAssertEqual(s.pendingPlan?.requests.first?.sampling.seed, seed + 1)   // not the same reply again
        XCTAssertEqual(s.messages.count, 2)
        XCTAssertEqual(s.messages[1].text, "")
        XCTAssertEqual(s.pendingPlan?.requests.first?.messages, [ChatTurn(role: "user", text: "q")])
    }

    func testEditAndResendTruncatesFromTheEditedMessage() {
        var s = makeState()
        send(&s, typing("first") + [.enter])
        _ = reduce(&s, .backend(.token(candidate: 0, text: "r1", temperature: 1)), now: 0)
        _ = reduce(&s, .finished, now: 0)
        send(&s, [.alt("e")])
        XCTAssertEqual(s.editor.text, "first")
        send(&s, [.backspace] + typing("ST") + [.enter])
        XCTAssertEqual(s.messages.map(\.text), ["firsST", ""])
        XCTAssertEqual(s.pendingPlan?.requests.first?.messages, [ChatTurn(role: "user", text: "firsST")])
        XCTAssertNil(s.editingIndex)
    }

    func testSetCommand() {
        var s = makeState()
        send(&s, typing("/set top-k 10") + [.enter])
        XCTAssertEqual(s.settings.topK, 10)
        send(&s, typing("/set temp abc") + [.enter])
        XCTAssertEqual(s.settings.temperature, 0.8)
        XCTAssertEqual(s.notice, "temp: 'abc' is not a number")
        send(&s, typing("/set top_p 1.5") + [.enter])
        XCTAssertEqual(s.settings.topP, 0.95)   // rejected by SamplerSettings.validate
        send(&s, typing("/set dynatemp entropy") + [.enter])
        XCTAssertEqual(s.settings.dynatempRange, 0.5)
        send(&s, typing("/set seed 7") + [.enter])
        XCTAssertEqual(s.settings.seed, 7)
        send(&s, typing("/set max-tokens 64") + [.enter])
        XCTAssertEqual(s.maxTokens, 64)
        XCTAssertTrue(s.messages.isEmpty)   // commands never reach the model
    }

    func testSystemMessageLeadsTheConversationAndSurvivesClear() {
        var s = makeState()
        send(&s, typing("/system Be brief.  Really.") + [.enter])
        send(&s, typing("hi") + [.enter])
        XCTAssertEqual(s.pendingPlan?.requests.first?.messages,
                       [ChatTurn(role: "system", text: "Be brief.  Really."), ChatTurn(role: "user", text: "hi")])
        _ = reduce(&s, .finished, now: 0)
        send(&s, typing("/clear") + [.enter])
        XCTAssertEqual(s.messages.map(\.role), [.system])
        send(&s, typing("/system") + [.enter])
        XCTAssertTrue(s.messages.isEmpty)
    }

    func testCommandParsing() throws {
        XCTAssertEqual(try Commands.parse("/compare 3 temp=0.3,0.8,1.3"), .compare(count: 3, temperatures: [0.3, 0.8, 1.3]))
        XCTAssertEqual(try Commands.parse("/compare temp=0.2,1"), .compare(count: 2, temperatures: [0.2, 1]))
        XCTAssertEqual(try Commands.parse("/compare"), .compare(count: 3, temperatures: []))
        XCTAssertThrowsError(try Commands.parse("/compare 7"))
        XCTAssertThrowsError(try Commands.parse("/compare 2 temp=1,2,3"))
        XCTAssertThrowsError(try Commands.parse("/bogus")) { XCTAssertEqual($0 as? CommandError, .unknown("bogus")) }
        XCTAssertEqual(try Commands.parse("/export ~/my chat.md"), .export(path: "~/my chat.md"))
        XCTAssertEqual(try Commands.parse("/keep 2"), .keep(1))
    }

    func testCompareWithOneTemperatureIsOneRequestOfNCandidates() {
        var s = makeState()
        send(&s, typing("q") + [.enter])
        _ = reduce(&s, .finished, now: 0)
        send(&s, typing("/compare 3") + [.enter])
        XCTAssertEqual(s.pendingPlan?.requests.count, 1)
        XCTAssertEqual(s.pendingPlan?.requests.first?.candidates, 3)
        XCTAssertEqual(s.messages.count, 2)   // the earlier reply was replaced by the comparison
        XCTAssertEqual(s.messages[1].candidates.count, 3)
        _ = reduce(&s, .backend(.token(candidate: 2, text: "c", temperature: 0.8)), now: 0)
        _ = reduce(&s, .backend(.token(candidate: 0, text: "a", temperature: 0.8)), now: 0)
        XCTAssertEqual(s.messages[1].candidates.map(\.text), ["a", "", "c"])
        _ = reduce(&s, .finished, now: 0)
        send(&s, [.tab, .tab])
        XCTAssertEqual(s.selectedCandidate, 2)
        let r = send(&s, [.alt("k")])
        XCTAssertTrue(r.contains(.save))
        XCTAssertEqual(s.messages[1].text, "c")
        XCTAssertFalse(s.messages[1].isComparison)
    }

    func testCompareWithPerColumnTemperaturesIsOneBatchedRequest() {
        var s = makeState()
        s.settings.seed = 100
        send(&s, typing("q") + [.enter])
        _ = reduce(&s, .finished, now: 0)
        send(&s, typing("/compare 3 temp=0.3,0.8,1.3") + [.enter])
        let requests = s.pendingPlan?.requests ?? []
        // One request: the engine decodes the three columns together from one prefill.
        XCTAssertEqual(requests.map(\.temperatures), [[0.3, 0.8, 1.3]])
        XCTAssertEqual(requests.map(\.sampling.seed), [100])
        XCTAssertEqual(requests.map(\.candidates), [3])
        XCTAssertEqual(s.messages[1].candidates.map(\.requestedTemperature), [0.3, 0.8, 1.3])
    }

    func testSamplingPanelNavigatesAndAdjusts() {
        var s = makeState()
        send(&s, [.f(2)])
        XCTAssertEqual(s.overlay, .sampling(selected: 0))
        send(&s, [.down, .right, .right])
        XCTAssertEqual(s.settings.topK, 42)
        send(&s, [.up, .left])
        XCTAssertEqual(s.settings.temperature, 0.75)
        send(&s, [.up])   // wraps to the last row: head-decay
        XCTAssertEqual(s.overlay, .sampling(selected: SettingName.allCases.count - 1))
        send(&s, [.escape])
        XCTAssertEqual(s.overlay, .none)
    }

    func testHelpKeyAndQuestionMarkOnlyOnAnEmptyLine() {
        var s = makeState()
        send(&s, [.char("?")])
        XCTAssertEqual(s.overlay, .help(offset: 0))
        send(&s, [.down, .down, .up])
        XCTAssertEqual(s.overlay, .help(offset: 1))
        send(&s, [.char("x")])   // any key closes, and is not typed
        XCTAssertEqual(s.overlay, .none)
        XCTAssertTrue(s.editor.isEmpty)
        send(&s, typing("why?"))
        XCTAssertEqual(s.editor.text, "why?")
        send(&s, [.f(1)])
        XCTAssertEqual(s.overlay, .help(offset: 0))
    }

    func testFailureShowsAnErrorAndDropsAnEmptyReply() {
        var s = makeState()
        send(&s, typing("q") + [.enter])
        _ = reduce(&s, .failed("the context is full"), now: 0)
        _ = reduce(&s, .finished, now: 0)
        XCTAssertEqual(s.messages.map(\.role), [.user, .error])
        XCTAssertEqual(s.mode, .idle)
        // Regenerate after an error answers the user's message again.
        send(&s, [.ctrl("r")])
        XCTAssertEqual(s.messages.map(\.role), [.user, .assistant])
    }

    func testTerminateSavesAndQuits() {
        var s = makeState()
        let r = reduce(&s, .input(.terminate), now: 0)
        XCTAssertEqual(r, [.save, .quit])
    }

    func testKeyMapHasNoConflicts() {
        var seen: [Key: Action] = [:]
        for b in KeyMap.bindings {
            for k in b.keys {
                XCTAssertNil(seen[k], "\(k.name) bound twice")
                seen[k] = b.action
            }
        }
        // Every action but the internal ones can be reached from a key.
        XCTAssertEqual(Set(KeyMap.bindings.map(\.action)), Set(Action.allCases))
    }
}

final class DiversityTests: XCTestCase {
    func testHandComputed() {
        // unigrams a b c a b d: 4 distinct of 6; bigrams ab bc ab bd: 3 of 4;
        // bigram sets {ab, bc} and {ab, bd}: Jaccard 1/3.
        let d = Diversity.measure(["a b c", "A b d"])
        XCTAssertEqual(d.distinct1, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(d.distinct2, 3.0 / 4, accuracy: 1e-12)
        XCTAssertEqual(d.pairwiseOverlap, 1.0 / 3, accuracy: 1e-12)
    }

    func testIdenticalRepliesOverlapFully() {
        let d = Diversity.measure(["x y z", "x y z", "x y z"])
        XCTAssertEqual(d.pairwiseOverlap, 1)
        XCTAssertEqual(d.distinct1, 3.0 / 9, accuracy: 1e-12)
    }
}
