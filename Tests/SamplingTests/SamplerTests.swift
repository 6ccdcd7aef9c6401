import Foundation
import XCTest
import Sampling

/// The sampler as a whole: greedy ties, seeding, empirical frequencies, stage order, settings changed
/// between tokens.
final class SamplerTests: XCTestCase {
    let base: [Float] = [0.1, 0.2, 0.3, 0.4]

    func testGreedyTiesGoToLowestId() {
        var s = SamplerSettings()
        s.temperature = 0
        let sampler = Sampler(vocabularySize: 5, settings: s)
        for step in 0..<5 {
            let r = sampler.sample(logits: [1, 3, 2, 3, 3], history: [], step: step)
            XCTAssertEqual(r.token, 1)
            XCTAssertEqual(r.probability, 1)
            XCTAssertEqual(r.temperature, 0)
        }
        // All equal: token 0. Negative temperature is greedy too (validate() rejects it, sample copes).
        s.temperature = -1
        sampler.settings = s
        XCTAssertEqual(sampler.sample(logits: [0.5, 0.5, 0.5, 0.5, 0.5], history: [], step: 0).token, 0)
    }

    // Top-k at a tie boundary keeps the lower ids: logits {1, 2, 2, 2}, k = 2 -> tokens 1 and 2.
    func testTopKTieBoundaryKeepsLowerIds() {
        var s = neutralSettings(order: [.topK])
        s.topK = 2
        let (p, _) = finalProbs(s, logits: [1, 2, 2, 2])
        assertProbs(p, [0, 0.5, 0.5, 0])
    }

    func testSameSeedSameSequenceDifferentSeedDifferent() {
        var g = Xoshiro256StarStar(seed: 99)
        let l = (0..<200).map { _ in Float(g.nextUnitDouble() * 4 - 2) }
        func run(_ seed: UInt64) -> [Int] {
            var s = SamplerSettings()
            s.seed = seed
            s.temperature = 1.2
            s.topK = 0
            s.topP = 1
            s.minP = 0
            let sampler = Sampler(vocabularySize: l.count, settings: s)
            var history: [Int] = []
            for step in 0..<64 {
                history.append(sampler.sample(logits: l, history: history, step: step).token)
            }
            return history
        }
        XCTAssertEqual(run(7), run(7))
        XCTAssertNotEqual(run(7), run(8))
        // reseed restarts the stream.
        var s = SamplerSettings()
        s.seed = 7
        s.temperature = 1.2
        s.topK = 0
        s.topP = 1
        s.minP = 0
        let sampler = Sampler(vocabularySize: l.count, settings: s)
        let first = (0..<10).map { sampler.sample(logits: l, history: [Int](), step: $0).token }
        sampler.reseed(7)
        let again = (0..<10).map { sampler.sample(logits: l, history: [Int](), step: $0).token }
        XCTAssertEqual(first, again)
    }

    /// 20k draws against the expected probabilities: max |freq - p| < 0.01 and a chi-square below the
    /// 0.1% critical value for 3 degrees of freedom (16.27).
    private func checkFrequencies(_ s: SamplerSettings, logits l: [Float], expected: [Double],
                                  file: StaticString = #filePath, line: UInt = #line) {
        let sampler = Sampler(vocabularySize: l.count, settings: s)
        let n = 20_000
        var counts = [Int](repeating: 0, count: l.count)
        for step in 0..<n {
            let r = sampler.sample(logits: l, history: [], step: step)
            counts[r.token] += 1
            // The reported probability is the token's probability in the distribution drawn from.
            XCTAssertEqual(Double(r.probability), expected[r.token], accuracy: 1e-5, file: file, line: line)
        }
        var chi2 = 0.0
        var maxDiff = 0.0
        var df = -1
        for (c, e) in zip(counts, expected) {
            maxDiff = max(maxDiff, abs(Double(c) / Double(n) - e))
            if e > 0 {
                chi2 += pow(Double(c) - e * Double(n), 2) / (e * Double(n))
                df += 1
            } else {
                XCTAssertEqual(c, 0, "a dropped token was drawn", file: file, line: line)
            }
        }
        XCTAssertLessThan(maxDiff, 0.01, "counts \(counts)", file: file, line: line)
        let critical: [Int: Double] = [1: 10.83, 2: 13.82, 3: 16.27]
        XCTAssertLessThan(chi2, critical[df] ?? 0, "chi2 \(chi2), counts \(counts)", file: file, line: line)
    }

    func testEmpiricalFrequenciesPlain() {
        checkFrequencies(neutralSettings(order: []), logits: logits(fromProbs: base), expected: [0.1, 0.2, 0.3, 0.4])
    }

    // top-p 0.8 keeps {0.4, 0.3, 0.2}; T = 0.5 squares them: {.16, .09, .04} / .29
    func testEmpiricalFrequenciesAfterTopPAndTemperature() {
        var s = neutralSettings(order: [.topP, .temperature])
        s.topP = 0.8
        s.temperature = 0.5
        checkFrequencies(s, logits: logits(fromProbs: base), expected: [0, 0.04 / 0.29, 0.09 / 0.29, 0.16 / 0.29])
    }

    // top-p 0.8 then T 0.5: {.16, .09, .04}/.29 = {0.5517241, 0.3103448, 0.1379310}.
    // T 0.5 first: {.0333, .1333, .3, .5333}; top-p 0.8 then stops at .5333 + .3 = .8333 -> 2 tokens,
    // {.16, .09}/.25 = {0.64, 0.36}.
    func testStageOrderChangesResult() {
        var s = neutralSettings(order: [.topP, .temperature])
        s.topP = 0.8
        s.temperature = 0.5
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0.1379310, 0.3103448, 0.5517241])
        s.order = [.temperature, .topP]
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, [0, 0, 0.36, 0.64])
        // Stages that commute give the same result in either order: top-k 3 and min-p 0.3 both drop
        // token 0 only (threshold 0.12).
        s = neutralSettings(order: [.topK, .minP])
        s.topK = 3
        s.minP = 0.3
        let a = finalProbs(s, logits: logits(fromProbs: base)).0
        s.order = [.minP, .topK]
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, a)
        // A stage left out of the order does nothing.
        s.order = []
        assertProbs(finalProbs(s, logits: logits(fromProbs: base)).0, base)
    }

    // The default chain, by hand: penalties off, top-k 40 (no-op on 4), top-p 0.95 (cum .4,.7,.9,1.0 ->
    // all 4), min-p 0.05 (threshold .02, all stay), T = 0.8: p^(1.25) normalised.
    func testDefaultChainByHand() {
        let s = SamplerSettings()
        XCTAssertEqual(s.order, [.penalties, .topK, .topP, .minP, .temperature])
        let q = base.map { pow(Double($0), 1.25) }
        let sum = q.reduce(0, +)
        let (p, t) = finalProbs(s, logits: logits(fromProbs: base))
        assertProbs(p, q.map { Float($0 / sum) })
        XCTAssertEqual(t, 0.8)
    }

    func testSettingsChangedBetweenCallsTakeEffect() {
        var s = SamplerSettings()
        s.temperature = 0.8
        let sampler = Sampler(vocabularySize: 4, settings: s)
        let l = logits(fromProbs: base)
        XCTAssertEqual(sampler.sample(logits: l, history: [], step: 0).temperature, 0.8)
        sampler.settings.temperature = 0  // greedy from the next token
        let g = sampler.sample(logits: l, history: [], step: 1)
        XCTAssertEqual(g.token, 3)
        XCTAssertEqual(g.temperature, 0)
        sampler.settings.temperature = 1.5  // the chat raises the temperature mid-reply
        XCTAssertEqual(sampler.sample(logits: l, history: [], step: 2).temperature, 1.5)
        sampler.settings.order = [.topK]  // no temperature stage: reported as 1
        sampler.settings.topK = 1
        let k = sampler.sample(logits: l, history: [], step: 3)
        XCTAssertEqual(k.token, 3)
        XCTAssertEqual(k.temperature, 1)
        XCTAssertEqual(k.candidateCount, 1)
    }

    // Changing a setting other than the seed keeps the RNG stream; changing the seed restarts it.
    func testSettingChangesAndTheRandomStream() {
        var s = neutralSettings(order: [.topK, .temperature])
        s.seed = 1234
        s.topK = 40
        let l = logits(fromProbs: base)
        let a = Sampler(vocabularySize: 4, settings: s)
        let b = Sampler(vocabularySize: 4, settings: s)
        var ta: [Int] = []
        var tb: [Int] = []
        for step in 0..<50 {
            if step == 10 { a.settings.topK = 50 }  // changes nothing for 4 tokens
            ta.append(a.sample(logits: l, history: [], step: step).token)
            tb.append(b.sample(logits: l, history: [], step: step).token)
        }
        XCTAssertEqual(ta, tb)
        a.settings.seed = 77
        var fresh = s
        fresh.seed = 77
        let c = Sampler(vocabularySize: 4, settings: fresh)
        let after = (0..<20).map { a.sample(logits: l, history: [], step: $0).token }
        let expected = (0..<20).map { c.sample(logits: l, history: [], step: $0).token }
        XCTAssertEqual(after, expected)
    }

    // A greedy step still consumes one random number, so later tokens don't shift.
    func testGreedyStepConsumesOneRandomNumber() {
        var s = neutralSettings(order: [.temperature])
        s.seed = 5
        let l = logits(fromProbs: base)
        let a = Sampler(vocabularySize: 4, settings: s)
        let b = Sampler(vocabularySize: 4, settings: s)
        a.settings.temperature = 0
        _ = a.sample(logits: l, history: [], step: 0)
        a.settings.temperature = 1
        _ = b.sample(logits: l, history: [], step: 0)
        let ta = (1..<30).map { a.sample(logits: l, history: [], step: $0).token }
        let tb = (1..<30).map { b.sample(logits: l, history: [], step: $0).token }
        XCTAssertEqual(ta, tb)
    }

    func testOddInputsDoNotCrash() {
        let sampler = Sampler(vocabularySize: 4, settings: SamplerSettings())
        // NaN logits count as -inf.
        XCTAssertEqual(sampler.sample(logits: [.nan, 0, .nan, .nan], history: [], step: 0).token, 1)
        // All -inf: uniform over the candidates, still a valid token.
        let r = sampler.sample(logits: [-.infinity, -.infinity, -.infinity, -.infinity], history: [], step: 0)
        XCTAssert((0..<4).contains(r.token))
        // Fewer logits than the vocabulary: only those are candidates.
        var s = SamplerSettings()
        s.temperature = 0
        sampler.settings = s
        XCTAssertEqual(sampler.sample(logits: [0, 5], history: [], step: 0).token, 1)
        // Empty logits: token 0 with probability 0.
        XCTAssertEqual(sampler.sample(logits: [], history: [], step: 0).probability, 0)
    }

    // A realistic vocabulary: top-k through quickselect must equal a plain sort, and top-p over the
    // whole vocabulary must equal a direct computation.
    func testLargeVocabularyAgainstNaiveReference() {
        var g = Xoshiro256StarStar(seed: 2024)
        let n = 50_000
        // Coarse logits so there are many exact ties, to exercise the id tie-break.
        let l = (0..<n).map { _ in Float(Int(g.nextUnitDouble() * 400)) / 20 - 10 }
        let ranked = (0..<n).sorted { l[$0] > l[$1] || (l[$0] == l[$1] && $0 < $1) }

        var s = neutralSettings(order: [.topK])
        s.topK = 40
        let sampler = Sampler(vocabularySize: n, settings: s)
        let topK = sampler.distribution(logits: l, history: [], step: 0).candidates.map(\.token)
        XCTAssertEqual(topK, Array(ranked.prefix(40)))

        sampler.settings = { var t = neutralSettings(order: [.topP]); t.topP = 0.5; return t }()
        let kept = sampler.distribution(logits: l, history: [], step: 0).candidates.map(\.token)
        let maxL = Double(l[ranked[0]])
        let w = ranked.map { exp(Double(l[$0]) - maxL) }
        let total = w.reduce(0, +)
        var cum = 0.0
        var expectedCount = 0
        for x in w {
            cum += x / total
            expectedCount += 1
            if cum >= 0.5 { break }
        }
        // Float vs Double running sums may differ by one token right at the boundary.
        XCTAssertEqual(Double(kept.count), Double(expectedCount), accuracy: 1)
        XCTAssertEqual(Array(kept.prefix(expectedCount - 1)), Array(ranked.prefix(expectedCount - 1)))
    }

    /// A Qwen-sized vocabulary through the default chain: reports the time per token (debug builds are
    /// slow; the bound is loose, it only catches an accidental O(n^2) or a full sort per token).
    func testVocabularySizedSpeed() {
        var g = Xoshiro256StarStar(seed: 1)
        let n = 151_936
        let l = (0..<n).map { _ in Float(g.nextUnitDouble() * 20 - 10) }
        var s = SamplerSettings()
        s.repeatPenalty = 1.1
        let sampler = Sampler(vocabularySize: n, settings: s)
        var history = Array(0..<64)
        let start = Date()
        let tokens = 50
        for step in 0..<tokens {
            history.append(sampler.sample(logits: l, history: history, step: step).token)
        }
        let perToken = Date().timeIntervalSince(start) / Double(tokens)
        print("sampler: \(String(format: "%.2f", perToken * 1000)) ms/token over a \(n)-token vocabulary")
        XCTAssertLessThan(perToken, 0.25)
    }
}
