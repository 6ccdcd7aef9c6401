import Foundation

/// Reads little-endian float32 NumPy `.npy` files (version 1.x/2.x, C order), as the fixture scripts
/// write them with `numpy.save`.
public struct NPYArray {
    public let shape: [Int]
    public let values: [Float]

    public enum Failure: Error, CustomStringConvertible {
        case malformed(String)
        public var description: String { switch self { case let .malformed(m): "npy: \(m)" } }
    }

    public init(url: URL) throws {
        try self.init(data: Data(contentsOf: url))
    }

    public init(data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw Failure.malformed("bad magic")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw Failure.malformed("short header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<headerStart + headerLength], encoding: .ascii) else {
            throw Failure.malformed("bad header")
        }
        guard header.contains("'<f4'") else { throw Failure.malformed("only <f4 supported: \(header)") }
        guard header.contains("'fortran_order': False") else { throw Failure.malformed("fortran order unsupported") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Failure.malformed("no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        shape = dims
        let count = dims.reduce(1, *)
        let start = headerStart + headerLength
        guard bytes.count - start == count * 4 else {
            throw Failure.malformed("expected \(count * 4) data bytes, found \(bytes.count - start)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<start + count * 4]))
            }
        }
        self.values = values
    }

    /// Row `i` of a 2-D array.
    public func row(_ i: Int) -> [Float] {
        let n = shape.last ?? values.count
        return Array(values[i * n..<(i + 1) * n])
    }
}
