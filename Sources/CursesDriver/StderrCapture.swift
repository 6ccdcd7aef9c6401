import Foundation

/// Sends stderr to an unlinked temporary file while curses owns the screen (a log line would tear the
/// UI), then puts it back and replays what was written.
final class StderrCapture {
    let saved: Int32
    let capture: Int32

    init?() {
        var template = Array("/tmp/squint-stderr-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        let saved = dup(2)
        guard saved >= 0 else { close(fd); return nil }
        fflush(nil)
        dup2(fd, 2)
        self.saved = saved
        capture = fd
    }

    /// Restores stderr and returns what was captured.
    func restore() -> Data {
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        var data = Data()
        if lseek(capture, 0, SEEK_SET) == 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(capture, $0.baseAddress!, 4096) }
                if n <= 0 { break }
                data.append(contentsOf: buffer[0..<n])
            }
        }
        close(capture)
        return data
    }
}
