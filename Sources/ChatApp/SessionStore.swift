import Foundation
import Sampling
import TerminalUI

public struct SessionSummary: Sendable, Equatable {
    public var id: String
    public var title: String
    public var model: String
    public var updated: Date
    public var messageCount: Int
}

/// A saved conversation. Fields added after version 1 are optional, so older files still load.
public struct SavedSession: Sendable, Codable, Equatable {
    public var version = 1
    public var id: String
    public var title: String?
    /// The model's display name (the status bar's).
    public var model: String
    /// What `--model` named (an absolute path, a repo id or an Ollama name): `--resume` reopens it.
    public var modelPath: String? = nil
    /// The GGUF vision projector (`--mmproj`, absolute) loaded with `modelPath`.
    public var mmproj: String? = nil
    public var created: Date
    public var updated: Date
    public var settings: SamplerSettings
    public var maxTokens: Int
    public var messages: [Message]
}

public enum SessionError: Error, CustomStringConvertible, Equatable {
    case notFound(id: String, directory: String)
    case unreadable(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case badID(String)

    public var description: String {
        switch self {
        case let .notFound(id, dir): "no session '\(id)' in \(dir)"
        case let .unreadable(path, reason): "cannot read session \(path): \(reason)"
        case let .writeFailed(path, reason): "cannot write \(path): \(reason)"
        case let .badID(id): "'\(Sanitizer.clean(id, singleLine: true))' is not a session id"
        }
    }
}

/// Sessions as JSON files under `$XDG_DATA_HOME/squint/sessions` (default `~/.local/share/...`),
/// each written atomically: a temporary file in the same directory, fsync, rename, fsync the directory,
/// so a crash leaves the old file or the new one, never half of one.
public struct SessionStore: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base: URL
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            base = URL(fileURLWithPath: xdg, isDirectory: true)
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            base = URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".local/share", isDirectory: true)
        }
        return base.appendingPathComponent("squint/sessions", isDirectory: true)
    }

    /// A new id: sortable by time, unique enough for one person's sessions.
    public static func newID(date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        let suffix = String(UInt32.random(in: 0..<0x10000), radix: 16)
        return f.string(from: date) + "-" + String(repeating: "0", count: 4 - suffix.count) + suffix
    }

    static func validID(_ id: String) -> Bool {
        !id.isEmpty && id.count < 100 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    func url(for id: String) -> URL { directory.appendingPathComponent(id + ".json") }

    public func save(_ session: SavedSession) throws {
        guard Self.validID(session.id) else { throw SessionError.badID(session.id) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data: Data
        do { data = try encoder.encode(session) } catch {
            throw SessionError.writeFailed(path: url(for: session.id).path, reason: "\(error)")
        }
        try AtomicFile.write(data, to: url(for: session.id))
    }

    public func load(_ id: String) throws -> SavedSession {
        guard Self.validID(id) else { throw SessionError.badID(id) }
        let path = url(for: id)
        guard FileManager.default.fileExists(atPath: path.path) else {
            throw SessionError.notFound(id: id, directory: directory.path)
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(SavedSession.self, from: Data(contentsOf: path))
        } catch {
            throw SessionError.unreadable(path: path.path, reason: "\(error)")
        }
    }

    /// Saved sessions, newest first; unreadable files are skipped.
    public func list() -> [SessionSummary] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var result: [SessionSummary] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let id = String(name.dropLast(5))
            guard let s = try? load(id) else { continue }
            let first = s.messages.first { $0.role == .user }?.text ?? "(empty)"
            let title = s.title ?? String(first.prefix(60))
            result.append(SessionSummary(id: id, title: Sanitizer.clean(title, singleLine: true), model: s.model,
                                         updated: s.updated, messageCount: s.messages.count))
        }
        return result.sorted { $0.updated > $1.updated }
    }

    /// The most recently updated session's id.
    public func latestID() -> String? { list().first?.id }
}

public enum AtomicFile {
    /// Writes via a temporary file in the destination's directory, fsynced, then renamed over it.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let fail = { (why: String) in SessionError.writeFailed(path: url.path, reason: why) }
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw fail("\(error)")
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw fail(String(cString: strerror(errno))) }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
        if ok { ok = fsync(fd) == 0 }
        let err = errno
        close(fd)
        guard ok else {
            unlink(tmp.path)
            throw fail(String(cString: strerror(err)))
        }
        guard rename(tmp.path, url.path) == 0 else {
            let e = errno
            unlink(tmp.path)
            throw fail(String(cString: strerror(e)))
        }
        // Make the rename itself durable.
        let dfd = open(dir.path, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

extension ChatState {
    public func savedSession(created: Date, now: Date = Date()) -> SavedSession {
        SavedSession(id: sessionID, title: sessionTitle, model: info.name, modelPath: modelSource?.model,
                     mmproj: modelSource?.mmproj, created: created, updated: now,
                     settings: settings, maxTokens: maxTokens,
                     messages: messages.filter { $0.status != .streaming || !$0.text.isEmpty })
    }

    public mutating func restore(_ s: SavedSession) {
        sessionID = s.id
        sessionTitle = s.title
        settings = s.settings
        maxTokens = s.maxTokens
        messages = s.messages.map { m in
            var m = m
            if m.status == .streaming { m.status = .stopped }   // saved mid-reply
            return m
        }
        pendingImages = []
        sendWhenReady = false
        scrollBack = 0
        contextUsed = 0
    }

    /// The conversation as Markdown (sanitised: no escape sequences reach the file).
    public func markdown() -> String {
        var out = "# \(Sanitizer.clean(sessionTitle ?? "Squint chat", singleLine: true))\n\n"
        out += "Model: \(Sanitizer.clean(info.name, singleLine: true)) (\(info.family))\n\n"
        for m in messages {
            let text = Sanitizer.clean(m.text)
            switch m.role {
            case .user:
                out += "## You\n\n"
                for image in m.images { out += "![\(image.name)](\(Sanitizer.clean(image.path, singleLine: true)))\n\n" }
                out += "\(text)\n\n"
            case .assistant:
                if m.isComparison {
                    for (i, c) in m.candidates.enumerated() {
                        out += "## Assistant (reply \(i + 1) of \(m.candidates.count))\n\n\(Sanitizer.clean(c.text))\n\n"
                    }
                } else {
                    out += "## Assistant\(m.status == .stopped ? " (stopped)" : "")\n\n\(text)\n\n"
                }
            case .system: out += "## System\n\n\(text)\n\n"
            case .error: out += "> **Error:** \(text)\n\n"
            }
        }
        return out
    }
}
