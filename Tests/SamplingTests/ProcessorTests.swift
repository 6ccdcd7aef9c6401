import Foundation
import XCTest
import Sampling

/// Single-stage checks on 4-5 token distributions. Where the case exists in llama.cpp's
/// tests/test-sampling.cpp the inputs and expected outputs are copied from there (noted per test);
/// the others are worked out by hand in the comments. Expected arrays are indexed by token id.
final class ProcessorTests: XCTestCase {
    let base: [Float] = [0.1, 0.2, 0.3, 0.4]

    // llama.cpp: test_temp({0.1,0.2,0.3,0.4}, {0.1,0.2,0.3,0.4}, 1.0) and (..., {0,0,0,1}, 0.0)
    func testTemperatureOneAndZeroMatchLlamaCpp() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 1
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, base)
        s.temperature = 0
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        assertProbs(p, [0, 0, 0, 1])
        XCTAssertEqual(t, 0)
    }

    // T = 0.5: p_i^(1/T) = p_i^2 = {0.01, 0.04, 0.09, 0.16}, sum 0.30 ->
    // {0.033333, 0.133333, 0.3, 0.533333}
    func testTemperatureHalfSquaresProbabilities() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 0.5
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        assertProbs(p, [0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3])
        XCTAssertEqual(t, 0.5)
    }

    // llama.cpp: test_top_k with k = 1, 3, 4, 0
    func testTopKMatchesLlamaCpp() {
        var s = neutralSettings(order: [.topK])
        s.topK = 1
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0, 0, 1])
        s.topK = 3  // {0.4, 0.3, 0.2} / 0.9
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0.22222, 0.33333, 0.44444])
        s.topK = 4
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, base)
        s.topK = 0  // off
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, base)
    }

    // llama.cpp: test_top_p with p = 0, 0.7, 0.8, 1.0
    func testTopPMatchesLlamaCpp() {
        var s = neutralSettings(order: [.topP])
        s.topP = 0  // keeps the single best
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0, 0, 1])
        s.topP = 0.7  // cum 0.4, 0.7 >= 0.7 -> {0.4, 0.3} / 0.7 = {0.571429, 0.428571}
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0, 0.428571, 0.571429])
        s.topP = 0.8  // cum 0.4, 0.7, 0.9 -> {0.4, 0.3, 0.2} / 0.9
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0.22222, 0.33333, 0.44444])
        s.topP = 1
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, base)
    }

    // llama.cpp: test_min_p; threshold = p * 0.4
    func testMinPMatchesLlamaCpp() {
        let cases: [(Float, [Float])] = [
            (0.00, base),
            (0.24, base),                                         // 0.096 < 0.1: all stay
            (0.26, [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9]),         // 0.104 drops 0.1
            (0.49, [0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9]),         // 0.196
            (0.51, [0, 0, 0.3 / 0.7, 0.4 / 0.7]),                 // 0.204 drops 0.2
            (0.74, [0, 0, 0.3 / 0.7, 0.4 / 0.7]),                 // 0.296
            (0.76, [0, 0, 0, 1]),                                 // 0.304 drops 0.3
            (1.00, [0, 0, 0, 1]),
            (1.05, [0, 0, 0, 1]),                                 // nothing passes: keep the best
        ]
        for (p, expected) in cases {
            var s = neutralSettings(order: [.minP])
            s.minP = p
            assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, expected)
        }
    }

    // llama.cpp: test_penalties, repeat 50 on a uniform 5-token distribution. ln 0.2 < 0, so the
    // repeat penalty multiplies: 50 * ln 0.2 = -80.5, probability ~0.
    func testRepeatPenaltyMatchesLlamaCpp() {
        let uniform: [Float] = [0.2, 0.2, 0.2, 0.2, 0.2]
        var s = neutralSettings(order: [.penalties])
        s.repeatPenalty = 50
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0]).0, [0, 0.25, 0.25, 0.25, 0.25])
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2]).0, [0, 0, 0, 0.5, 0.5])
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2, 0, 0]).0, [0, 0, 0, 0.5, 0.5])
    }

    // llama.cpp: test_penalties with frequency 5, presence 5. History {0}: logit0 -= 5 + 5, so
    // p0 = e^-10 / (e^-10 + 4) = 0.0000113. History {0,1,2,0,0}: token 0 loses 3*5 + 5 = 20.
    func testFrequencyAndPresenceMatchLlamaCpp() {
        let uniform: [Float] = [0.2, 0.2, 0.2, 0.2, 0.2]
        var s = neutralSettings(order: [.penalties])
        s.frequencyPenalty = 5
        s.presencePenalty = 5
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0]).0,
                    [0.000011, 0.249997, 0.249997, 0.249997, 0.249997])
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2]).0,
                    [0.000023, 0.000023, 0.000023, 0.499966, 0.499966])
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2, 0, 0]).0,
                    [0.000000, 0.000023, 0.000023, 0.499977, 0.499977])
    }

    // Positive logits are divided, negative multiplied, then count * freq + presence subtracted.
    // logits {2, 1, -1, 0.5}, history {0, 2, 0}, repeat 2, freq 0.5, presence 0.25:
    //   token 0 (count 2):  2 / 2 - 2 * 0.5 - 0.25 = -0.25
    //   token 2 (count 1): -1 * 2 - 1 * 0.5 - 0.25 = -2.75
    //   softmax{-0.25, 1, -2.75, 0.5} = {0.1494896, 0.5217700, 0.0122709, 0.3164695}
    //   (numpy: e = exp(l - 1); e / e.sum())
    func testMixedSignRepeatPenaltyByHand() {
        var s = neutralSettings(order: [.penalties])
        s.repeatPenalty = 2
        s.frequencyPenalty = 0.5
        s.presencePenalty = 0.25
        let l: [Float] = [2, 1, -1, 0.5]
        assertProbs(finalProbs(s, logits: l, history: [0, 2, 0]).0, [0.1494896, 0.5217700, 0.0122709, 0.3164695])
        // Neutral penalties leave softmax{2, 1, -1, 0.5} = {0.6094600, 0.2242078, 0.0303432, 0.1359889}
        s.repeatPenalty = 1
        s.frequencyPenalty = 0
        s.presencePenalty = 0
        assertProbs(finalProbs(s, logits: l, history: [0, 2, 0]).0, [0.6094600, 0.2242078, 0.0303432, 0.1359889])
    }

    // Same numbers through the path where candidates are no longer in id order: min-p 0.01 first drops
    // token 4 (logit -10 < 2 + ln 0.01 = -2.6), then the penalties scan the candidates by id.
    func testPenaltiesAfterReorderingStage() {
        var s = neutralSettings(order: [.minP, .penalties])
        s.minP = 0.01
        s.repeatPenalty = 2
        s.frequencyPenalty = 0.5
        s.presencePenalty = 0.25
        let l: [Float] = [2, 1, -1, 0.5, -10]
        let expected: [Float] = [0.1494896, 0.5217700, 0.0122709, 0.3164695, 0]
        assertProbs(finalProbs(s, logits: l, history: [0, 2, 0]).0, expected)
        s.order = [.penalties, .minP]  // after penalties: max 1, threshold -3.6, token 4 still dropped
        assertProbs(finalProbs(s, logits: l, history: [0, 2, 0]).0, expected)
    }

    // penaltyLastN limits the window to the most recent tokens; 0 disables; -1 takes all.
    func testPenaltyWindow() {
        let uniform: [Float] = [0.2, 0.2, 0.2, 0.2, 0.2]
        var s = neutralSettings(order: [.penalties])
        s.repeatPenalty = 50
        s.penaltyLastN = 1  // only the last token (2) is penalized
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2]).0, [0.25, 0.25, 0, 0.25, 0.25])
        s.penaltyLastN = 0
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2]).0, uniform)
        s.penaltyLastN = -1
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [0, 1, 2]).0, [0, 0, 0, 0.5, 0.5])
        // Out-of-vocabulary ids in the history are ignored, not a crash.
        assertProbs(finalProbs(s, logits: logits(fromProbs: uniform), history: [-3, 99, 4]).0, [0.25, 0.25, 0.25, 0.25, 0])
    }

    // Counts are cleared between calls: a second call with an empty history sees no penalty.
    func testPenaltyCountsDoNotLeakBetweenCalls() {
        let uniform: [Float] = [0.2, 0.2, 0.2, 0.2, 0.2]
        var s = neutralSettings(order: [.penalties])
        s.frequencyPenalty = 5
        let sampler = Sampler(vocabularySize: 5, settings: s)
        _ = sampler.distribution(logits: logits(fromProbs: uniform), history: [0, 0, 1], step: 0)
        let second = sampler.distribution(logits: logits(fromProbs: uniform), history: [], step: 1)
        XCTAssertEqual(second.candidates.count, 5)
        for c in second.candidates { XCTAssertEqual(c.probability, 0.2, accuracy: 1e-6) }
    }
}
