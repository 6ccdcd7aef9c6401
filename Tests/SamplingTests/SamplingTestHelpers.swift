import Foundation
import XCTest
import Sampling

/// Settings with every stage neutral, so a test can switch on exactly what it checks.
func neutralSettings(order: [SamplerStage]) -> SamplerSettings {
    var s = SamplerSettings()
    s.temperature = 1
    s.topK = 0
    s.topP = 1
    s.minP = 0
    s.repeatPenalty = 1
    s.presencePenalty = 0
    s.frequencyPenalty = 0
    s.order = order
    return s
}

/// Logits = ln(probs), as llama.cpp's `sampler_tester` builds them.
func logits(fromProbs probs: [Float]) -> [Float] {
    probs.map { logf($0) }
}

/// The final distribution as a per-token array (0 for dropped tokens), plus the temperature used.
func finalProbs(_ settings: SamplerSettings, logits: [Float], history: [Int] = [], step: Int = 0) -> ([Float], Float) {
    let sampler = Sampler(vocabularySize: logits.count, settings: settings)
    let (candidates, t) = sampler.distribution(logits: logits, history: history, step: step)
    var out = [Float](repeating: 0, count: logits.count)
    for c in candidates { out[c.token] = c.probability }
    return (out, t)
}

func assertProbs(_ actual: [Float], _ expected: [Float], accuracy: Float = 1e-5,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "length", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        XCTAssertEqual(a, e, accuracy: accuracy, "token \(i): got \(actual), want \(expected)", file: file, line: line)
    }
}
