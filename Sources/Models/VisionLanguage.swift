import Foundation

/// An image made ready for a vision tower: normalised patches in the order the tower reads them.
public struct PreparedImage: Sendable {
    /// `[patches, patchDim]` f32.
    public var pixels: [Float]
    /// Patch grid (temporal, height, width) before merging, as transformers' `image_grid_thw`.
    public var grid: [Int]
    /// Language-model tokens the image becomes.
    public var tokenCount: Int
    /// Identifies the image content and the preprocessing settings (for the embedding cache).
    public var key: String
    /// The size the image was resized to (width, height).
    public var resized: (width: Int, height: Int)

    public init(pixels: [Float], grid: [Int], tokenCount: Int, key: String, resized: (width: Int, height: Int)) {
        self.pixels = pixels
        self.grid = grid
        self.tokenCount = tokenCount
        self.key = key
        self.resized = resized
    }
}

/// Per-run knobs of image preprocessing (nil: the checkpoint's processor config decides). Each family reads
/// the knobs it has and ignores the others.
public struct ImageSettings: Sendable, Equatable, Hashable {
    /// Qwen2-VL: the pixel budget of `smart_resize`.
    public var minPixels: Int?
    public var maxPixels: Int?
    /// LLaVA-OneVision AnyRes: only grid pinpoints of at most this many tiles are considered.
    public var maxTiles: Int?
    /// SmolVLM / Idefics3: the longest edge of the first resize (the processor's `size.longest_edge`).
    public var longestEdge: Int?
    /// SmolVLM / Idefics3: split into tiles plus a global image (false: the global image only).
    public var splitImages: Bool?
    /// How many images the prompt holds (set by the engine): LLaVA-OneVision takes a different path for
    /// several images in one prompt, as transformers' `batch_num_images` does.
    public var imagesInPrompt: Int?

    public init(minPixels: Int? = nil, maxPixels: Int? = nil, maxTiles: Int? = nil, longestEdge: Int? = nil,
                splitImages: Bool? = nil, imagesInPrompt: Int? = nil) {
        self.minPixels = minPixels
        self.maxPixels = maxPixels
        self.maxTiles = maxTiles
        self.longestEdge = longestEdge
        self.splitImages = splitImages
        self.imagesInPrompt = imagesInPrompt
    }
}

/// The vision half of a vision-language family: preprocessing, the encoder + connector, and how image
/// tokens enter the prompt and the position ids.
public protocol VisionLanguage: AnyObject, Sendable {
    /// The placeholder the chat template writes for each image (e.g. `<|image_pad|>`).
    var imagePlaceholder: String { get }
    /// The token id of one image feature row in the prompt.
    var imageTokenID: Int { get }
    /// How many tokens an image of this size will cost, before any work is done.
    func tokenCount(width: Int, height: Int, settings: ImageSettings) throws -> Int
    /// Resizes, normalises and patchifies decoded RGB pixels (`[height, width, 3]` bytes).
    func prepare(rgb: [UInt8], width: Int, height: Int, settings: ImageSettings) throws -> PreparedImage
    /// Runs the vision tower and connector: `[tokenCount, hidden]` features.
    func encode(_ image: PreparedImage) throws -> [Float]
    /// Replaces the i-th placeholder in rendered text with the image's run of tokens.
    func expandPlaceholders(in text: String, images: [PreparedImage]) throws -> String
    /// Position ids for a whole prompt (image token runs in order) and the delta decoding continues with.
    func positions(for ids: [Int], images: [PreparedImage]) throws -> (PositionIDs, delta: Int)
    /// nil: the chat template is given image parts as `{"type": "image"}` items and writes the
    /// placeholder itself. Otherwise the family's template takes content as a plain string (MiniCPM-V):
    /// each message is given as its parts joined by "\n", every image written as this text (which is
    /// then `imagePlaceholder`).
    var imagePartText: String? { get }
}

public extension VisionLanguage {
    var imagePartText: String? { nil }
}

/// Prompt helpers shared by families whose processor repeats one placeholder per image token.
enum VisionPrompt {
    /// Replaces the i-th `placeholder` in `text` with `counts[i]` copies of it (transformers' processors
    /// expand `<|image_pad|>` / `<image>` this way before tokenizing).
    static func repeatPlaceholders(in text: String, placeholder: String, counts: [Int]) throws -> String {
        let parts = text.components(separatedBy: placeholder)
        guard parts.count - 1 == counts.count else {
            throw ModelError.invalidConfigValue(path: "prompt", key: placeholder,
                reason: "the prompt has \(parts.count - 1) image placeholders for \(counts.count) images")
        }
        var out = parts[0]
        for (i, count) in counts.enumerated() {
            out += String(repeating: placeholder, count: count) + parts[i + 1]
        }
        return out
    }
}
