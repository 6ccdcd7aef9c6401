/// Crop, pad and the eight EXIF orientations. All return new images; pixel values are only copied.
extension RGBImage {
    /// The `width` x `height` region whose top-left corner is (`x`, `y`). Like PIL's `Image.crop`, the
    /// region may reach outside the image; those pixels are black.
    public func cropped(x: Int, y: Int, width newWidth: Int, height newHeight: Int) throws -> RGBImage {
        guard newWidth > 0, newHeight > 0 else {
            throw ImageError.invalidArgument("crop size \(newWidth)x\(newHeight) must be positive")
        }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        let x0 = max(x, 0), x1 = min(x + newWidth, width)
        let y0 = max(y, 0), y1 = min(y + newHeight, height)
        if x0 < x1 && y0 < y1 {
            let rowBytes = (x1 - x0) * 3
            pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for sy in y0..<y1 {
                        let s = (sy * width + x0) * 3
                        let d = ((sy - y) * newWidth + (x0 - x)) * 3
                        for i in 0..<rowBytes { dst[d + i] = src[s + i] }
                    }
                }
            }
        }
        return RGBImage(unchecked: newWidth, height: newHeight, pixels: out)
    }

    /// The image with `left`/`top`/`right`/`bottom` pixels of `fill` added around it.
    public func padded(left: Int = 0, top: Int = 0, right: Int = 0, bottom: Int = 0,
                       fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) throws -> RGBImage {
        guard left >= 0, top >= 0, right >= 0, bottom >= 0 else {
            throw ImageError.invalidArgument("negative padding \(left),\(top),\(right),\(bottom)")
        }
        var out = RGBImage(width: width + left + right, height: height + top + bottom, fill: fill)
        let rowBytes = width * 3
        pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for sy in 0..<height {
                    let s = sy * rowBytes
                    let d = ((sy + top) * out.width + left) * 3
                    for i in 0..<rowBytes { dst[d + i] = src[s + i] }
                }
            }
        }
        return out
    }

    /// The image padded to `targetWidth` x `targetHeight`, placed at the top left (the convention of
    /// transformers' `pad` with `PaddingMode.CONSTANT` to a bottom-right size) or centred.
    public func padded(toWidth targetWidth: Int, height targetHeight: Int, centred: Bool = false,
                       fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) throws -> RGBImage {
        guard targetWidth >= width, targetHeight >= height else {
            throw ImageError.invalidArgument(
                "cannot pad \(width)x\(height) to the smaller \(targetWidth)x\(targetHeight)")
        }
        let left = centred ? (targetWidth - width) / 2 : 0
        let top = centred ? (targetHeight - height) / 2 : 0
        return try padded(left: left, top: top, right: targetWidth - width - left,
                          bottom: targetHeight - height - top, fill: fill)
    }

    /// Applies an EXIF orientation value the way `PIL.ImageOps.exif_transpose` does; values other than
    /// 2...8 (including 1) leave the image unchanged.
    public func applyingEXIFOrientation(_ orientation: Int) -> RGBImage {
        // PIL's Transpose for each value: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM,
        // 5 TRANSPOSE, 6 ROTATE_270 (i.e. 90 degrees clockwise), 7 TRANSVERSE, 8 ROTATE_90 (counter-clockwise).
        // Each case maps an output pixel (x, y) to its source pixel, with W and H the SOURCE size.
        let w = width, h = height
        let source: (Int, Int) -> (Int, Int)
        let swapped: Bool
        switch orientation {
        case 2: source = { x, y in (w - 1 - x, y) }; swapped = false
        case 3: source = { x, y in (w - 1 - x, h - 1 - y) }; swapped = false
        case 4: source = { x, y in (x, h - 1 - y) }; swapped = false
        case 5: source = { x, y in (y, x) }; swapped = true
        case 6: source = { x, y in (y, h - 1 - x) }; swapped = true
        case 7: source = { x, y in (w - 1 - y, h - 1 - x) }; swapped = true
        case 8: source = { x, y in (w - 1 - y, x) }; swapped = true
        default: return self
        }
        let outW = swapped ? h : w, outH = swapped ? w : h
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var d = 0
                for y in 0..<outH {
                    for x in 0..<outW {
                        let (sx, sy) = source(x, y)
                        let s = (sy * w + sx) * 3
                        dst[d] = src[s]
                        dst[d + 1] = src[s + 1]
                        dst[d + 2] = src[s + 2]
                        d += 3
                    }
                }
            }
        }
        return RGBImage(unchecked: outW, height: outH, pixels: out)
    }
}
