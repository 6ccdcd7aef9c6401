import Foundation
import Models
import Sampling
import Tokenizers

/// One generation, run synchronously on the inference queue: prefill (reusing the cached prefix),
/// then a decode loop in which every candidate samples, streams and feeds back one token per step.
struct GenerationJob {
    let model: LoadedModel
    let session: Session
    let request: GenerationRequest
    let live: LiveSettings
    let cancel: Flag
    var tokenDelay: Double = 0

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    private func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e6 }

    /// Runs to the end; returns the final `.done` event, which the caller sends after releasing the
    /// session, so that a consumer who starts the next turn on `.done` never finds the engine busy.
    func run(emit: (GenerationEvent) -> Void) throws -> GenerationEvent {
        guard request.maxTokens >= 0 else { throw InferenceError.invalidRequest("max tokens must not be negative") }
        guard (1...64).contains(request.candidates) else {
            throw InferenceError.invalidRequest("the number of candidates must be between 1 and 64")
        }
        try request.sampling.validate()
        guard request.candidateTemperatures.isEmpty || request.candidateTemperatures.count == request.candidates else {
            throw InferenceError.invalidRequest("give one temperature per candidate (\(request.candidates))")
        }
        guard request.candidateTemperatures.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw InferenceError.invalidRequest("candidate temperatures must be finite and not negative")
        }
        let lm = model.language
        let cache = session.cache
        let logits = session.logits
        let plan = try PromptBuilder.plan(model, request, cache: session.features)
        let prompt = plan.ids
        guard !prompt.isEmpty else { throw InferenceError.emptyPrompt }
        guard prompt.count < cache.capacity else {
            throw ModelError.contextFull(capacity: cache.capacity, needed: prompt.count + 1)
        }
        var timings = Timings()
        timings.imageEncodeMs = plan.imageEncodeMs
        timings.imagesEncoded = plan.imagesEncoded
        timings.imagesCached = plan.imagesCached

        // Prefill what the cache does not already hold. At least the last prompt token is recomputed:
        // its logits start the reply.
        let reuse = min(cache.sharedPrefix(with: plan.entries), prompt.count - 1)
        cache.truncate(to: reuse)
        cache.positionDelta = plan.positionDelta
        let t0 = now()
        if let positions = plan.positions {
            let n = prompt.count - reuse
            let hidden = lm.config.hiddenSize
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: n * hidden)
            defer { rows.deallocate() }
            try PromptBuilder.embedRows(plan, from: reuse, model: model, into: rows)
            try lm.forward(embeddings: rows, count: n, positions: positions.dropFirst(reuse),
                           entries: Array(plan.entries[reuse...]), cache: cache, logits: logits.baseAddress!)
        } else {
            try lm.forward(tokens: Array(prompt[reuse...]), cache: cache, logits: logits.baseAddress!)
        }
        timings.prefillMs = ms(t0, now())
        timings.prefillTokens = prompt.count - reuse
        timings.reusedTokens = reuse
        emit(.prompt(tokens: prompt, reused: reuse, imageTokens: plan.imageTokenCounts))

        // Candidates decode in lockstep as one batch: candidate 0 continues in the session's cache, the
        // others in caches forked from the prompt (copied, not recomputed), so each step reads the
        // weights once for all of them.
        let n = request.candidates
        let vocab = logits.count
        var caches = [cache]
        for _ in 1..<max(n, 1) {
            let fork = lm.makeCache(capacity: min(cache.capacity, prompt.count + request.maxTokens + 1))
            fork.copyPrefix(from: cache, count: prompt.count)
            caches.append(fork)
        }
        // [n, vocab]: row k holds candidate k's next-token logits.
        let rows = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * vocab)
        defer { rows.deallocate() }
        for k in 0..<n { _ = UnsafeMutableBufferPointer(rebasing: rows[(k * vocab)..<((k + 1) * vocab)]).update(from: logits) }
        let batchOut = UnsafeMutablePointer<Float>.allocate(capacity: n * vocab)
        defer { batchOut.deallocate() }

        var seen = 0
        var settings = live.changed(since: &seen) ?? request.sampling
        // Candidate k: seed + k, and its own temperature when given (offset by any live change).
        func candidateSettings(_ base: SamplerSettings, _ k: Int) -> SamplerSettings {
            var s = base
            s.seed = request.sampling.seed &+ UInt64(k)
            if !request.candidateTemperatures.isEmpty {
                let shift = base.temperature - request.sampling.temperature
                s.temperature = shift == 0 ? request.candidateTemperatures[k] : max(0, request.candidateTemperatures[k] + shift)
            }
            return s
        }
        let samplers = (0..<n).map { k in Sampler(vocabularySize: vocab, settings: candidateSettings(settings, k)) }
        var histories = (0..<n).map { _ -> [Int] in
            var h = prompt
            h.reserveCapacity(prompt.count + request.maxTokens)
            return h
        }
        var detoks = (0..<n).map { _ in StreamingDetokenizer(tokenizer: model.tokenizer, skipSpecialTokens: true) }
        var candidates = (0..<n).map { _ -> Candidate in
            var c = Candidate()
            c.tokens.reserveCapacity(request.maxTokens)
            c.temperatures.reserveCapacity(request.maxTokens)
            return c
        }
        var active = Array(0..<n)
        // Per-step lists, reused: decoding a token allocates nothing here.
        var next: [Int] = [], continuing: [Int] = [], batchCaches: [KVCache] = []
        next.reserveCapacity(n); continuing.reserveCapacity(n); batchCaches.reserveCapacity(n)
        var captured: [[Float]] = []
        let decodeStart = now()

        func finish(_ k: Int, _ reason: FinishReason) {
            candidates[k].finishReason = reason
            let tail = detoks[k].flush()
            if !tail.isEmpty { emit(.token(candidate: k, id: -1, text: tail, temperature: 0)) }
            candidates[k].text = model.tokenizer.decode(candidates[k].tokens, skipSpecialTokens: true)
            emit(.candidateFinished(candidate: k, candidates[k]))
        }

        var step = 0
        while !active.isEmpty {
            if step >= request.maxTokens { for k in active { finish(k, .length) }; break }
            if cancel.isSet { for k in active { finish(k, .cancelled) }; break }
            if let changed = live.changed(since: &seen) {
                // A live change applies to every candidate from this token on; each keeps its seed stream.
                settings = changed
                for (k, sampler) in samplers.enumerated() { sampler.settings = candidateSettings(changed, k) }
            }
            next.removeAll(keepingCapacity: true)
            continuing.removeAll(keepingCapacity: true)
            for k in active {
                let row = UnsafeBufferPointer(rebasing: rows[(k * vocab)..<((k + 1) * vocab)])
                if request.captureLogits && k == 0 { captured.append(Array(row)) }
                let result = samplers[k].sample(logits: row, history: histories[k], step: step)
                candidates[k].tokens.append(result.token)
                candidates[k].temperatures.append(result.temperature)
                histories[k].append(result.token)
                emit(.token(candidate: k, id: result.token, text: detoks[k].append(result.token), temperature: result.temperature))
                if !request.ignoreEOS && model.stopTokenIDs.contains(result.token) {
                    finish(k, .stop)
                } else if step + 1 >= request.maxTokens {
                    finish(k, .length)
                } else if caches[k].count >= caches[k].capacity {
                    finish(k, .contextFull)
                } else {
                    next.append(result.token)
                    continuing.append(k)
                }
            }
            step += 1
            if tokenDelay > 0 { Thread.sleep(forTimeInterval: tokenDelay) }
            swap(&active, &continuing)
            guard !active.isEmpty else { break }
            if active.count == 1 {
                let k = active[0]
                try lm.forward(tokens: next, cache: caches[k], logits: rows.baseAddress! + k * vocab)
            } else {
                batchCaches.removeAll(keepingCapacity: true)
                for k in active { batchCaches.append(caches[k]) }
                try lm.forwardBatch(tokens: next, caches: batchCaches, logits: batchOut)
                for (j, k) in active.enumerated() {
                    (rows.baseAddress! + k * vocab).update(from: batchOut + j * vocab, count: vocab)
                }
            }
        }
        timings.decodeTokens = candidates.reduce(0) { $0 + $1.tokens.count }
        timings.decodeMs = ms(decodeStart, now())
        return .done(candidates: candidates, timings: timings, logits: captured)
    }
}

/// Messages -> the template's variables, as transformers' `apply_chat_template` passes them.
enum ChatRendering {
    static func render(_ template: ChatTemplate, tokenizer tk: Tokenizer, messages: [ChatMessage],
                       addGenerationPrompt: Bool = true, variables: [String: String] = [:],
                       imagePartText: String? = nil) throws -> String {
        let list = messages.map { m -> JinjaValue in
            if let imagePartText {
                // A family whose template prints `content` as a string (MiniCPM-V's chat()): parts joined
                // by newlines, each image as its placeholder text.
                let text = m.isPlainString
                    ? m.parts.compactMap { if case let .text(t) = $0 { t } else { nil } }.joined()
                    : m.parts.map { part -> String in
                        switch part {
                        case let .text(t): t
                        case .image: imagePartText
                        }
                    }.joined(separator: "\n")
                return JinjaValue(json: ["role": m.role, "content": text])
            }
            let content: Any = m.isPlainString
                ? m.parts.compactMap { if case let .text(t) = $0 { t } else { nil } }.joined()
                : m.parts.map { part -> [String: Any] in
                    switch part {
                    case let .text(t): ["type": "text", "text": t]
                    case .image: ["type": "image"]
                    }
                }
            return JinjaValue(json: ["role": m.role, "content": content])
        }
        var extra: [String: JinjaValue] = [:]
        if let pad = tk.padToken { extra["pad_token"] = .string(pad) }
        if let unk = tk.unkToken { extra["unk_token"] = .string(unk) }
        for (k, v) in variables { extra[k] = .string(v) }
        return try template.render(messages: list, addGenerationPrompt: addGenerationPrompt,
                                   bosToken: tk.bosToken, eosToken: tk.eosToken, extra: extra)
    }
}
