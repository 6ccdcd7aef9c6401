import Foundation
import Models
import Sampling
import Tokenizers

/// One generation, run synchronously on the inference queue: prefill (reusing the cached prefix),
/// then for each candidate a decode loop that samples, streams and feeds back one token at a time.
struct GenerationJob {
    let model: LoadedModel
    let session: Session
    let request: GenerationRequest
    let live: LiveSettings
    let cancel: Flag

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

        let promptLogits = request.candidates > 1 ? Array(logits) : []
        var seen = 0
        var settings = live.changed(since: &seen) ?? request.sampling
        let sampler = Sampler(vocabularySize: logits.count, settings: settings)
        var captured: [[Float]] = []
        var candidates: [Candidate] = []
        var history: [Int] = []
        history.reserveCapacity(prompt.count + request.maxTokens)
        let decodeStart = now()

        for k in 0..<request.candidates {
            if k > 0 {
                cache.truncate(to: prompt.count)
                _ = logits.update(from: promptLogits)
            }
            settings.seed = request.sampling.seed &+ UInt64(k)
            sampler.settings = settings
            sampler.reseed(settings.seed)
            history.removeAll(keepingCapacity: true)
            history.append(contentsOf: prompt)
            var detok = StreamingDetokenizer(tokenizer: model.tokenizer, skipSpecialTokens: true)
            var cand = Candidate()
            cand.tokens.reserveCapacity(request.maxTokens)
            cand.temperatures.reserveCapacity(request.maxTokens)
            var step = 0
            while true {
                if step >= request.maxTokens { cand.finishReason = .length; break }
                if cancel.isSet { cand.finishReason = .cancelled; break }
                if var changed = live.changed(since: &seen) {
                    // Live changes keep this candidate's seed stream going.
                    changed.seed = settings.seed
                    settings = changed
                    sampler.settings = changed
                }
                if request.captureLogits && k == 0 { captured.append(Array(logits)) }
                let result = sampler.sample(logits: UnsafeBufferPointer(logits), history: history, step: step)
                step += 1
                cand.tokens.append(result.token)
                cand.temperatures.append(result.temperature)
                history.append(result.token)
                emit(.token(candidate: k, id: result.token, text: detok.append(result.token), temperature: result.temperature))
                if !request.ignoreEOS && model.stopTokenIDs.contains(result.token) { cand.finishReason = .stop; break }
                if step >= request.maxTokens { cand.finishReason = .length; break }
                if cache.count >= cache.capacity { cand.finishReason = .contextFull; break }
                try lm.forward(tokens: [result.token], cache: cache, logits: logits.baseAddress!)
            }
            let tail = detok.flush()
            if !tail.isEmpty { emit(.token(candidate: k, id: -1, text: tail, temperature: 0)) }
            cand.text = model.tokenizer.decode(cand.tokens, skipSpecialTokens: true)
            timings.decodeTokens += cand.tokens.count
            candidates.append(cand)
            emit(.candidateFinished(candidate: k, cand))
            if cand.finishReason == .cancelled { break }
        }
        timings.decodeMs = ms(decodeStart, now())
        return .done(candidates: candidates, timings: timings, logits: captured)
    }
}

/// Messages -> the template's variables, as transformers' `apply_chat_template` passes them.
enum ChatRendering {
    static func render(_ template: ChatTemplate, tokenizer tk: Tokenizer, messages: [ChatMessage],
                       addGenerationPrompt: Bool = true, variables: [String: String] = [:]) throws -> String {
        let list = messages.map { m -> JinjaValue in
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
