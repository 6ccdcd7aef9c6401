import ChatApp
import Foundation
import Inference
import TerminalUI

/// `squint bench --ui`: key-to-frame latency of the chat while a reply is being generated, measured
/// through the real UI loop (reducer, full render, present) against the real engine on a headless screen.
enum UIBench {
    struct Result: Sendable {
        var samples: [Double]       // ms, one per key
        var tokensDuring: Int
        var seconds: Double = 0
        var median: Double { percentile(0.5) }
        var p90: Double { percentile(0.9) }
        var max: Double { samples.max() ?? 0 }
        func percentile(_ p: Double) -> Double {
            guard !samples.isEmpty else { return 0 }
            let sorted = samples.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
        }
    }

    static func run(engine: InferenceEngine, name: String, replyTokens: Int, keys: Int) -> Result {
        let backend = EngineBackend(engine: engine, name: name)
        var state = ChatState(info: backend.info, sessionID: "bench")
        state.maxTokens = replyTokens
        state.settings.temperature = 0.8
        let driver = HeadlessDriver(size: Size(width: 120, height: 40))
        let loop = ChatLoop(state: state, driver: driver, backend: backend, theme: .builtinDark, store: nil)
        loop.redraw()
        for ch in "Describe the picture in detail." {
            driver.pendingInput.append(.key(.char(ch)))
            loop.step(timeoutMilliseconds: 0)
        }
        driver.pendingInput.append(.key(.enter))
        loop.step(timeoutMilliseconds: 0)
        let startWait = Date()
        // Measure while tokens stream: wait for the first one (prefill and first page faults done).
        while (loop.state.mode != .generating || loop.state.generatedTokensSoFar == 0)
                && Date().timeIntervalSince(startWait) < 60 {
            loop.step(timeoutMilliseconds: 5)
        }
        var result = Result(samples: [], tokensDuring: 0)
        let tokensBefore = loop.state.generatedTokensSoFar
        let began = Date()
        // One key every ~15 ms (a fast typist) while the reply streams: the time from the key being
        // available to the frame that shows it presented.
        while loop.state.mode == .generating && result.samples.count < keys {
            let next = Date().addingTimeInterval(0.015)
            while Date() < next { loop.step(timeoutMilliseconds: 5) }   // token events, redraws
            driver.pendingInput.append(.key(.char("x")))
            let t0 = DispatchTime.now().uptimeNanoseconds
            loop.step(timeoutMilliseconds: 0)
            result.samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        result.tokensDuring = loop.state.generatedTokensSoFar - tokensBefore
        result.seconds = Date().timeIntervalSince(began)
        driver.pendingInput.append(.key(.escape))   // stop the reply
        loop.step(timeoutMilliseconds: 0)
        loop.settle()
        return result
    }
}
