import Foundation
import ImageProcessing
import Models
import Tokenizers

/// A prompt made ready for the model: token ids, what each cache position will hold, positions and
/// image features.
struct PromptPlan {
    var ids: [Int]
    /// Per position: the token id, or a negative marker of the image whose feature row sits there.
    var entries: [Int]
    /// nil: sequential positions from 0 (text-only prompts).
    var positions: PositionIDs?
    var positionDelta = 0
    var images: [PreparedImage] = []
    /// Features of each image, `[tokenCount, hidden]`.
    var features: [[Float]] = []
    var imageEncodeMs: Double = 0
    var imagesEncoded = 0
    var imagesCached = 0

    var imageTokenCounts: [Int] { images.map(\.tokenCount) }
}

/// Caches vision features by image content and preprocessing settings, so a follow-up turn about the
/// same picture does not run the vision tower again.
final class FeatureCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: [Float]] = [:]
    private var order: [String] = []
    let capacity: Int

    init(capacity: Int = 16) { self.capacity = capacity }

    func get(_ key: String) -> [Float]? { lock.withLock { entries[key] } }

    func put(_ key: String, _ value: [Float]) {
        lock.withLock {
            if entries[key] == nil { order.append(key) }
            entries[key] = value
            while order.count > capacity { entries[order.removeFirst()] = nil }
        }
    }
}

enum PromptBuilder {
    /// `encode: false` stops after tokenization (counting a prompt's tokens needs each image's token
    /// count, not its features).
    static func plan(_ model: LoadedModel, _ request: GenerationRequest, cache: FeatureCache,
                     limits: ImageLimits = ImageLimits(), encode: Bool = true) throws -> PromptPlan {
        switch request.prompt {
        case let .raw(text):
            let ids = model.tokenizer.encode(text, addSpecialTokens: true)
            return PromptPlan(ids: ids, entries: ids)
        case let .tokens(ids):
            return PromptPlan(ids: ids, entries: ids)
        case let .chat(messages):
            let wanted = messages.reduce(0) { $0 + $1.imageCount }
            guard wanted == request.images.count else {
                throw InferenceError.invalidRequest("the messages have \(wanted) image parts but \(request.images.count) images were given")
            }
            if wanted > 0 && model.vision == nil { throw InferenceError.noVision(model) }
            guard let template = model.chatTemplate else {
                throw InferenceError.noChatTemplate(directory: model.directory.path)
            }
            var rendered = try ChatRendering.render(template, tokenizer: model.tokenizer, messages: messages,
                                                    variables: request.templateVariables,
                                                    imagePartText: model.vision?.imagePartText)
            guard wanted > 0 else {
                let ids = model.tokenizer.encode(rendered, addSpecialTokens: false)
                return PromptPlan(ids: ids, entries: ids)
            }
            guard let vision = model.vision else { throw InferenceError.noVision(model) }
            var plan = PromptPlan(ids: [], entries: [])
            let start = DispatchTime.now().uptimeNanoseconds
            // Families whose preprocessing depends on how many images share the prompt read this.
            var settings = request.imageSettings
            settings.imagesInPrompt = request.images.count
            for path in request.images {
                let image = try ImageDecoder.decode(path: path, limits: limits)
                let prepared = try vision.prepare(rgb: image.pixels, width: image.width, height: image.height,
                                                  settings: settings)
                let features: [Float]
                if !encode {
                    features = []
                } else if let hit = cache.get(prepared.key) {
                    features = hit
                    plan.imagesCached += 1
                } else {
                    features = try vision.encode(prepared)
                    cache.put(prepared.key, features)
                    plan.imagesEncoded += 1
                }
                plan.images.append(prepared)
                plan.features.append(features)
            }
            plan.imageEncodeMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            rendered = try vision.expandPlaceholders(in: rendered, images: plan.images)
            plan.ids = model.tokenizer.encode(rendered, addSpecialTokens: false)
            let (positions, delta) = try vision.positions(for: plan.ids, images: plan.images)
            plan.positions = positions
            plan.positionDelta = delta
            // Image rows are marked by their image's key so that a different picture of the same size
            // never matches a cached prefix.
            var image = 0, row = 0
            plan.entries = plan.ids.map { id in
                guard id == vision.imageTokenID, image < plan.images.count else { return id }
                let marker = -1 - Int(UInt64(truncatingIfNeeded: plan.images[image].key.hashValue) % (1 << 40))
                row += 1
                if row == plan.images[image].tokenCount { image += 1; row = 0 }
                return marker
            }
            return plan
        }
    }

    /// Writes the embedding rows of positions `from..<ids.count` into `out` (`[n, hidden]`).
    static func embedRows(_ plan: PromptPlan, from: Int, model: LoadedModel, into out: UnsafeMutablePointer<Float>) throws {
        let lm = model.language
        let hidden = lm.config.hiddenSize
        // Map each image row to (image, row) in order.
        var image = 0, row = 0
        let imageID = model.vision?.imageTokenID ?? -1
        for (j, id) in plan.ids.enumerated() {
            let isImage = id == imageID && image < plan.images.count
            if j >= from {
                let dst = out + (j - from) * hidden
                if isImage {
                    plan.features[image].withUnsafeBufferPointer { f in
                        dst.update(from: f.baseAddress! + row * hidden, count: hidden)
                    }
                } else {
                    try lm.embed(plan.ids[j...j], into: dst)
                }
            }
            if isImage {
                row += 1
                if row == plan.images[image].tokenCount { image += 1; row = 0 }
            }
        }
    }
}
