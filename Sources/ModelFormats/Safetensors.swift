import Foundation
import TensorCore

/// One `.safetensors` file, mapped: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data section.
/// Every entry is checked against the file's real size before any view is handed out.
/// Format: https://github.com/huggingface/safetensors#format
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let mapping: MappedFile
    public let metadata: [String: String]
    /// Tensors Squint can use, by name.
    public let tensors: [String: TensorView]
    /// Tensors present with a dtype Squint cannot use (e.g. I64 buffers): an error only if asked for.
    public let unsupported: [String: String]

    /// Largest header accepted (the format's own limit is 100 MB).
    static let maxHeaderSize: UInt64 = 100_000_000

    public convenience init(path: String) throws {
        try self.init(mapping: MappedFile.open(forModelFormat: path))
    }

    public init(mapping: MappedFile) throws {
        let path = mapping.path
        self.path = path
        self.mapping = mapping
        let fileSize = mapping.size
        guard fileSize >= 8, let base = mapping.base else {
            throw ModelFormatError.truncatedHeader(path: path, fileSize: fileSize)
        }
        let headerSize = base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerSize <= Self.maxHeaderSize, headerSize <= UInt64(fileSize - 8) else {
            throw ModelFormatError.headerTooLarge(path: path, headerSize: headerSize, fileSize: fileSize)
        }
        let headerData = Data(bytes: base + 8, count: Int(headerSize))
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw ModelFormatError.invalidHeader(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let header = json as? [String: Any] else {
            throw ModelFormatError.invalidHeader(path: path, reason: "top level is not a JSON object")
        }
        let dataStart = 8 + Int(headerSize)
        let dataSize = fileSize - dataStart
        var metadata: [String: String] = [:]
        var tensors: [String: TensorView] = [:]
        var unsupported: [String: String] = [:]
        // Sorted so that the first error reported for a broken file is the same every run.
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                if let dict = value as? [String: Any] {
                    for (k, v) in dict { metadata[k] = v as? String ?? "\(v)" }
                }
                continue
            }
            let entry = try Self.parseEntry(name: name, value: value, path: path)
            guard entry.begin >= 0, entry.begin <= entry.end, entry.end <= dataSize else {
                throw ModelFormatError.tensorOutOfBounds(path: path, tensor: name, start: entry.begin,
                                                         end: entry.end, dataSize: dataSize)
            }
            // Block-quantized dtypes only come from GGUF; a safetensors dtype string never names one.
            guard let dtype = DType(rawValue: entry.dtype), !dtype.isQuantized else {
                unsupported[name] = entry.dtype
                continue
            }
            let (count, overflow) = entry.shape.reduce((1, false)) { acc, d in
                let (m, o) = acc.0.multipliedReportingOverflow(by: d)
                return (m, acc.1 || o)
            }
            let expected = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, !expected.overflow, expected.partialValue == entry.end - entry.begin else {
                throw ModelFormatError.sizeMismatch(path: path, tensor: name, shape: entry.shape, dtype: entry.dtype,
                                                    expectedBytes: overflow ? -1 : expected.partialValue,
                                                    actualBytes: entry.end - entry.begin)
            }
            tensors[name] = TensorView(name: name, dtype: dtype, shape: entry.shape,
                                       data: base + dataStart + entry.begin, owner: mapping)
        }
        self.metadata = metadata
        self.tensors = tensors
        self.unsupported = unsupported
    }

    private struct Entry { var dtype: String; var shape: [Int]; var begin: Int; var end: Int }

    private static func parseEntry(name: String, value: Any, path: String) throws -> Entry {
        guard let dict = value as? [String: Any] else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "entry is not an object")
        }
        guard let dtype = dict["dtype"] as? String else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "missing 'dtype'")
        }
        guard let shapeAny = dict["shape"] as? [Any] else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "missing 'shape'")
        }
        var shape: [Int] = []
        for d in shapeAny {
            guard let n = d as? NSNumber, n.doubleValue >= 0, n.doubleValue == n.doubleValue.rounded(),
                  n.doubleValue < 1e15 else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "bad dimension \(d) in shape")
            }
            shape.append(n.intValue)
        }
        guard let offsets = dict["data_offsets"] as? [Any], offsets.count == 2,
              let b = offsets[0] as? NSNumber, let e = offsets[1] as? NSNumber,
              b.doubleValue >= 0, e.doubleValue >= 0, b.doubleValue < 9e15, e.doubleValue < 9e15 else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: name, reason: "bad 'data_offsets'")
        }
        return Entry(dtype: dtype, shape: shape, begin: b.intValue, end: e.intValue)
    }
}
