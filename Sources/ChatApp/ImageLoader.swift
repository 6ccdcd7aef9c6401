import Foundation
import ImageProcessing

/// Reads an image for the chat off the UI loop: decode (EXIF orientation applied, as the engine does),
/// hash, token cost, and two previews downscaled with Pillow's Lanczos filter (area-averaging when
/// shrinking, so a photo's preview is not a nearest-neighbour sampling of noise).
public enum ImageLoader {
    /// The transcript preview fits in this many cells (columns, rows); the strip's in the smaller box.
    public static let largeCells = (columns: 24, rows: 10)
    public static let smallCells = (columns: 12, rows: 4)
    /// The engine's limit (100 megapixels, checked from the header before decoding): an image the
    /// preview accepts is one the engine accepts.
    public static let limits = ImageLimits.default

    public static func load(path: String, tokenCost: (Int, Int) -> Int?) -> ImageLoadResult {
        let image: RGBImage
        do { image = try ImageDecoder.decode(path: path, limits: limits) } catch let error as ImageError {
            return .failed(error.description)
        } catch {
            return .failed("\(path): \(error)")
        }
        let attachment = Attachment(path: path, width: image.width, height: image.height,
                                    tokens: tokenCost(image.width, image.height), contentHash: image.contentHash)
        return .loaded(LoadedImage(attachment: attachment,
                                   large: preview(image, columns: largeCells.columns, rows: largeCells.rows),
                                   small: preview(image, columns: smallCells.columns, rows: smallCells.rows)))
    }

    /// The image fitted into `columns` x `2 * rows` pixels (one pixel per column, two per row: a cell is
    /// about twice as tall as wide, so half blocks give square pixels), aspect kept, height even.
    public static func preview(_ image: RGBImage, columns: Int, rows: Int) -> PreviewPixels {
        let maxW = Double(columns), maxH = Double(2 * rows)
        let scale = min(maxW / Double(image.width), maxH / Double(image.height))
        let w = max(1, min(columns, Int((Double(image.width) * scale).rounded())))
        var h = max(2, min(2 * rows, Int((Double(image.height) * scale).rounded())))
        if h % 2 == 1 { h += h < 2 * rows ? 1 : -1 }
        let small = Resampler.resize(image, width: w, height: h, filter: .lanczos)
        return PreviewPixels(width: w, height: h, pixels: small.pixels)
    }
}
