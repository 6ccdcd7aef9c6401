import Foundation
import TensorCore

/// Everything that can be wrong with a weights file or a model directory's index. Each case names the
/// file, and the tensor where one is involved, so a user can tell which download is broken.
public enum ModelFormatError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case truncatedHeader(path: String, fileSize: Int)
    case headerTooLarge(path: String, headerSize: UInt64, fileSize: Int)
    case invalidHeader(path: String, reason: String)
    case invalidTensorEntry(path: String, tensor: String, reason: String)
    case tensorOutOfBounds(path: String, tensor: String, start: Int, end: Int, dataSize: Int)
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case missingTensor(name: String, directory: String)
    case invalidIndex(path: String, reason: String)
    case missingShard(index: String, shard: String)
    case noWeights(directory: String)
    /// GGUF: the file does not start with "GGUF".
    case ggufBadMagic(path: String, found: [UInt8])
    /// GGUF: a version other than 2 or 3 (1 used 32-bit counts; a byte-swapped number means big-endian).
    case ggufUnsupportedVersion(path: String, version: UInt32)
    /// GGUF: the header ends before `reading` (needing `needed` bytes at `offset`) could be read.
    case ggufTruncated(path: String, offset: Int, needed: Int, fileSize: Int, reading: String)
    /// GGUF: a structurally invalid header (bad type code, absurd count, bad alignment, duplicate name);
    /// `context` names the key or part of the header.
    case ggufInvalid(path: String, context: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            "cannot read \(path): \(reason)"
        case let .cannotWrite(path, reason):
            "cannot write \(path): \(reason)"
        case let .truncatedHeader(path, size):
            "\(path): truncated safetensors file (\(size) bytes, too short for its header)"
        case let .headerTooLarge(path, header, size):
            "\(path): safetensors header claims \(header) bytes but the file has \(size) (truncated or not safetensors)"
        case let .invalidHeader(path, reason):
            "\(path): invalid safetensors header: \(reason)"
        case let .invalidTensorEntry(path, tensor, reason):
            "\(path): tensor '\(tensor)': \(reason)"
        case let .tensorOutOfBounds(path, tensor, start, _, dataSize) where start < 0:
            "\(path): tensor '\(tensor)' has a data offset far beyond the data section of \(dataSize) bytes (corrupt header)"
        case let .tensorOutOfBounds(path, tensor, start, end, dataSize):
            "\(path): tensor '\(tensor)' spans bytes \(start)..<\(end) but the data section has \(dataSize) bytes (truncated file?)"
        case let .sizeMismatch(path, tensor, shape, dtype, expected, actual):
            "\(path): tensor '\(tensor)' \(dtype)\(shape) needs \(expected) bytes but its offsets give \(actual)"
        case let .unsupportedDType(path, tensor, dtype):
            "\(path): tensor '\(tensor)' has dtype \(dtype), which Squint does not support (\(DType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .missingTensor(name, dir):
            "\(dir): weight '\(name)' not found in any safetensors file"
        case let .invalidIndex(path, reason):
            "\(path): invalid shard index: \(reason)"
        case let .missingShard(index, shard):
            "\(index) names shard '\(shard)', which is missing"
        case let .noWeights(dir):
            "\(dir): no *.safetensors files found"
        case let .ggufBadMagic(path, found):
            "\(path): not a GGUF file (starts with bytes \(found.map { String(format: "%02x", $0) }.joined(separator: " ")), expected 47 47 55 46 \"GGUF\")"
        case let .ggufUnsupportedVersion(path, version):
            "\(path): GGUF version \(version) is not supported (only 2 and 3\(version > 0xFFFF ? "; a big-endian file?" : ""))"
        case let .ggufTruncated(path, offset, needed, size, reading):
            "\(path): truncated GGUF header: reading \(reading) needs \(needed) bytes at offset \(offset) but the file has \(size)"
        case let .ggufInvalid(path, context, reason):
            "\(path): invalid GGUF header (\(context)): \(reason)"
        }
    }
}

import TensorCore

extension MappedFile {
    /// Maps `path`, reporting failure as this target's error (the file's path and the reason).
    static func open(forModelFormat path: String) throws -> MappedFile {
        do {
            return try MappedFile(path: path)
        } catch let error as TensorCoreError {
            throw ModelFormatError.cannotRead(path: path, reason: error.description)
        }
    }
}
