import Foundation
import XCTest
import Sampling

/// Both dynamic-temperature kinds. Expected numbers worked out by hand and checked with numpy:
///   p = [.1, .2, .3, .4]; H = -(p*log(p)).sum(); h = H / log(4)
///   t = tmin + (tmax - tmin) * h**E; q = p**(1/t); q /= q.sum()
final class DynamicTemperatureTests: XCTestCase {
    let base: [Float] = [0.1, 0.2, 0.3, 0.4]

    // llama.cpp: test_temp_ext with delta 0 behaves like plain temperature (T = 1 and T = 0).
    func testZeroRangeIsPlainTemperature() {
        var s = neutralSettings(order: [.temperature])
        s.dynatempRange = 0
        s.dynatempExponent = 1
        s.temperature = 1
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, base)
        s.temperature = 0
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0, 0, 1])
    }

    // T = 1, R = 0.5, E = 1:
    //   H = 0.1*2.302585 + 0.2*1.609438 + 0.3*1.203973 + 0.4*0.916291 = 1.2798542
    //   h = H / ln 4 = 1.2798542 / 1.3862944 = 0.9232197
    //   T_used = 0.5 + (1.5 - 0.5) * 0.9232197 = 1.4232197
    //   q = p^(1/1.4232197), normalised = {0.1344077, 0.2187446, 0.2908471, 0.3560006}
    func testEntropyScaledTemperature() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 1
        s.dynatempRange = 0.5
        s.dynatempExponent = 1
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        XCTAssertEqual(t, 1.4232197, accuracy: 1e-5)
        assertProbs(p, [0.1344077, 0.2187446, 0.2908471, 0.3560006])
    }

    // T = 0.8, R = 0.5, E = 2: T_used = 0.3 + 1.0 * 0.9232197^2 = 1.1523346
    //   -> {0.1142917, 0.2085689, 0.2965256, 0.3806138}
    func testEntropyExponent() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 0.8
        s.dynatempRange = 0.5
        s.dynatempExponent = 2
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        XCTAssertEqual(t, 1.1523346, accuracy: 1e-5)
        assertProbs(p, [0.1142917, 0.2085689, 0.2965256, 0.3806138])
    }

    // T_min is clamped at 0: T = 0.3, R = 0.5 -> range [0, 0.8], T_used = 0.8 * 0.9232197 = 0.7385757
    //   -> {0.0688905, 0.1760926, 0.3049026, 0.4501143}
    func testEntropyRangeClampsAtZero() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 0.3
        s.dynatempRange = 0.5
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        XCTAssertEqual(t, 0.7385757, accuracy: 1e-5)
        assertProbs(p, [0.0688905, 0.1760926, 0.3049026, 0.4501143])
    }

    // llama.cpp's rule, mirrored: with R > 0 a base of 0 is not greedy but the range [0, R].
    //   T = 0, R = 0.5: T_used = 0 + 0.5 * 0.9232197 = 0.4616098
    //   -> p^(1/0.4616098) normalised = {0.0274404, 0.1231746, 0.2964784, 0.5529067}
    func testZeroBaseWithRangeIsNotGreedy() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 0
        s.dynatempRange = 0.5
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        XCTAssertEqual(t, 0.4616098, accuracy: 1e-5)
        assertProbs(p, [0.0274404, 0.1231746, 0.2964784, 0.5529067])
    }

    // A confident distribution gets a low temperature: p = {.97, .01, .01, .01},
    //   H = 0.97*0.0304592 + 3*0.01*4.6051702 = 0.1677005, h = 0.1209704,
    //   T = 1, R = 0.5: T_used = 0.5 + 0.1209704 = 0.6209704
    func testLowEntropyLowersTemperature() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 1
        s.dynatempRange = 0.5
        let (p, t) = finalProbs(s, logits: logits(fromProbs: [0.97, 0.01, 0.01, 0.01]))
        XCTAssertEqual(t, 0.6209704, accuracy: 1e-5)
        assertProbs(p, [0.9981084, 0.0006305, 0.0006305, 0.0006305])
    }

    // The entropy is measured over the candidates that survive earlier stages (llama.cpp: N = cur_p->size).
    // After top-k 2: p = {.4, .3}/.7 = {0.5714286, 0.4285714}; H = 0.6829081, ln 2 = 0.6931472,
    //   h = 0.9852281; T = 1, R = 0.5: T_used = 0.5 + 0.9852281 = 1.4852281
    func testEntropyOverSurvivingCandidates() {
        var s = neutralSettings(order: [.topK, .temperature])
        s.topK = 2
        s.temperature = 1
        s.dynatempRange = 0.5
        let (_, t) = finalProbs(s, logits: logits(fromProbs: base))
        XCTAssertEqual(t, 1.4852281, accuracy: 1e-5)
    }

    // One candidate left: llama.cpp returns without scaling; the reported temperature is the base.
    func testEntropySingleCandidate() {
        var s = neutralSettings(order: [.topK, .temperature])
        s.topK = 1
        s.temperature = 0.9
        s.dynatempRange = 0.5
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        assertProbs(p, [0, 0, 0, 1])
        XCTAssertEqual(t, 0.9)
    }

    // Head schedule, H = 1.5, K = 3, D = 4, base 0.7: steps 0-2 at 1.5, then
    // 1.5 + (0.7 - 1.5) * j/5 for j = 1..4 = 1.34, 1.18, 1.02, 0.86, then 0.7 from step 7 on.
    func testHeadSchedule() {
        var s = SamplerSettings()
        s.temperature = 0.7
        s.headTemp = 1.5
        s.headTokens = 3
        s.headDecay = 4
        let expected: [Float] = [1.5, 1.5, 1.5, 1.34, 1.18, 1.02, 0.86, 0.7, 0.7, 0.7]
        for (step, e) in expected.enumerated() {
            XCTAssertEqual(s.temperature(atStep: step), e, accuracy: 1e-6, "step \(step)")
        }
        // The sampler reports the scheduled temperature it used for each step.
        s.order = [.temperature]
        let sampler = Sampler(vocabularySize: 4, settings: s)
        for (step, e) in expected.enumerated() {
            let r = sampler.sample(logits: logits(fromProbs: base), history: [], step: step)
            XCTAssertEqual(r.temperature, e, accuracy: 1e-6, "step \(step)")
        }
        // No head temperature: always the base; no decay: a step straight to the base.
        s.headTemp = nil
        XCTAssertEqual(s.temperature(atStep: 0), 0.7)
        s.headTemp = 1.5
        s.headDecay = 0
        XCTAssertEqual(s.temperature(atStep: 2), 1.5)
        XCTAssertEqual(s.temperature(atStep: 3), 0.7)
    }

    // Both kinds at once: the schedule gives T, the entropy range spreads around it.
    //   step 0: T = 1.5, R = 0.5 -> T_used = 1.0 + 1.0 * 0.9232197 = 1.9232197
    //   step 7: T = 0.7          -> T_used = 0.2 + 0.9232197 = 1.1232197
    func testScheduleAndEntropyTogether() {
        var s = neutralSettings(order: [.temperature])
        s.temperature = 0.7
        s.headTemp = 1.5
        s.headTokens = 3
        s.headDecay = 4
        s.dynatempRange = 0.5
        XCTAssertEqual(s.dynamicTemperature, [.headSchedule(headTemp: 1.5, headTokens: 3, decay: 4),
                                              .entropy(range: 0.5, exponent: 1)])
        let (p0, t0) = finalProbs(s, logits: logits(fromProbs: base), step: 0)
        XCTAssertEqual(t0, 1.9232197, accuracy: 1e-5)
        assertProbs(p0, [0.1597319, 0.2290423, 0.2827981, 0.3284277])
        let (_, t7) = finalProbs(s, logits: logits(fromProbs: base), step: 7)
        XCTAssertEqual(t7, 1.1232197, accuracy: 1e-5)
    }

    func testDynamicTemperatureEnumRoundTrip() {
        var s = SamplerSettings()
        XCTAssertEqual(s.dynamicTemperature, [])
        s.dynamicTemperature = [.entropy(range: 0.3, exponent: 1.5)]
        XCTAssertEqual(s.dynatempRange, 0.3)
        XCTAssertEqual(s.dynatempExponent, 1.5)
        XCTAssertNil(s.headTemp)
        s.dynamicTemperature = [.headSchedule(headTemp: 1.2, headTokens: 2, decay: 5)]
        XCTAssertEqual(s.dynatempRange, 0)
        XCTAssertEqual(s.headTemp, 1.2)
        XCTAssertEqual(s.headTokens, 2)
        XCTAssertEqual(s.headDecay, 5)
        s.dynamicTemperature = [.off]
        XCTAssertEqual(s.dynamicTemperature, [])
    }
}
