import Foundation
import TensorCore

/// Writes tensors as a `.safetensors` file (8-byte header length, JSON header, aligned data).
public enum SafetensorsWriter {
    public static func data(_ tensors: [TensorView], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for t in ordered {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]]
            offset += t.byteCount
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data section starts 8-byte aligned, as the reference writer does.
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out = Data()
        var size = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &size) { out.append(contentsOf: $0) }
        out.append(json)
        for t in ordered { out.append(Data(bytes: t.data, count: t.byteCount)) }
        return out
    }

    public static func write(_ tensors: [TensorView], to url: URL, metadata: [String: String] = [:]) throws {
        try data(tensors, metadata: metadata).write(to: url, options: .atomic)
    }
}
