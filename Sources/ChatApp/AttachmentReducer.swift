import Foundation
import TerminalUI

// The reducer's part for images: attaching, detaching, the loader's results, resume checks.

extension ChatState {
    /// Images in the strip still being read, plus a resumed session's images not yet checked.
    var imagesBusyCount: Int { pendingImages.filter { $0.attachment == nil }.count + verifyingPaths.count }
    var imagesBusy: Bool { imagesBusyCount > 0 }
}

/// A slash command, not a message starting with an absolute path ("/home/me/cat.jpg what is this?").
func isCommand(_ text: String) -> Bool {
    guard text.hasPrefix("/") else { return false }
    let first = text.dropFirst().prefix { !$0.isWhitespace }
    return !first.contains("/")
}

func refuseImages(_ state: inout ChatState) -> Reaction {
    state.notice = state.info.imagesUnavailable.map { Sanitizer.clean($0, singleLine: true) }
        ?? "\(Sanitizer.clean(state.info.name, singleLine: true)) reads text only: it cannot take images"
    return .redraw
}

/// Adds images to the strip; those not read yet are handed to the loader (each path read once).
func attach(_ state: inout ChatState, paths: [String]) -> Reaction {
    guard state.info.supportsImages else { return refuseImages(&state) }
    var reaction: Reaction = .redraw
    var added: [String] = []
    for path in paths where !state.pendingImages.contains(where: { $0.path == path }) {
        if let loaded = state.loadedImages[path] {
            state.pendingImages.append(PendingImage(path: path, attachment: loaded.attachment))
        } else {
            state.pendingImages.append(PendingImage(path: path))
            if !state.loadingPaths.contains(path) {
                state.loadingPaths.insert(path)
                state.imagesToLoad.append(path)
                reaction.insert(.loadImages)
            }
        }
        added.append(Sanitizer.clean((path as NSString).lastPathComponent, singleLine: true))
    }
    if !added.isEmpty {
        state.notice = "attached \(added.joined(separator: ", ")) (M-x detaches)"
    }
    return reaction
}

/// `index` nil: the last image; -1: all of them.
func detach(_ state: inout ChatState, index: Int?) -> Reaction {
    guard !state.pendingImages.isEmpty else { state.notice = "no images attached"; return .redraw }
    if index == -1 {
        state.pendingImages.removeAll()
        state.notice = "detached all images"
    } else {
        let i = index ?? state.pendingImages.count - 1
        guard i >= 0, i < state.pendingImages.count else {
            state.notice = "there \(state.pendingImages.count == 1 ? "is 1 image" : "are \(state.pendingImages.count) images") attached"
            return .redraw
        }
        let removed = state.pendingImages.remove(at: i)
        state.notice = "detached \(Sanitizer.clean((removed.path as NSString).lastPathComponent, singleLine: true))"
    }
    if state.pendingImages.isEmpty, state.sendWhenReady, state.editor.text.allSatisfy(\.isWhitespace) {
        state.sendWhenReady = false
    }
    return .redraw
}

func imageLoaded(_ state: inout ChatState, path: String, _ result: ImageLoadResult, now: Double) -> Reaction {
    state.loadingPaths.remove(path)
    var reaction: Reaction = .redraw
    let verifying = state.verifyingPaths.remove(path) != nil
    switch result {
    case let .loaded(image):
        state.loadedImages[path] = image
        for i in state.pendingImages.indices where state.pendingImages[i].path == path {
            state.pendingImages[i].attachment = image.attachment
        }
        if verifying {
            var changed = false
            for m in state.messages.indices {
                for k in state.messages[m].images.indices where state.messages[m].images[k].path == path {
                    let saved = state.messages[m].images[k]
                    if let hash = saved.contentHash, hash != image.attachment.contentHash {
                        state.messages[m].images[k].missing = true
                        changed = true
                    } else {
                        state.messages[m].images[k] = image.attachment
                    }
                }
            }
            if changed {
                state.loadedImages[path] = nil   // not the picture the conversation had
                state.notice = "\(Sanitizer.clean(path, singleLine: true)) changed since the session was saved: the turn keeps a placeholder"
            }
        }
    case let .failed(message):
        let name = Sanitizer.clean(message, singleLine: true)
        state.pendingImages.removeAll { $0.path == path }
        if verifying {
            for m in state.messages.indices {
                for k in state.messages[m].images.indices where state.messages[m].images[k].path == path {
                    state.messages[m].images[k].missing = true
                }
            }
            state.notice = "\(name) (the turn keeps a placeholder)"
        } else if state.sendWhenReady {
            // Typed in the message: maybe not meant as an image. Enter again sends it as text.
            state.unreadablePaths.insert(path)
            state.notice = name + " (Enter again sends the text as it is)"
        } else {
            state.notice = name
        }
        state.sendWhenReady = false
    }
    if verifying, state.verifyingPaths.isEmpty { reaction.insert(.countContext) }
    if state.sendWhenReady, !state.imagesBusy, state.mode == .idle, state.overlay == .none {
        state.sendWhenReady = false
        reaction.formUnion(submit(&state, now: now))
    }
    return reaction
}

/// Keys that mean something for images: Backspace on an empty line detaches, Tab completes the path of
/// `/image`, and a paste that is only image paths attaches them. nil: not handled here.
func handleAttachmentKey(_ state: inout ChatState, _ key: Key) -> Reaction? {
    switch key {
    case .backspace where state.editor.isEmpty && !state.pendingImages.isEmpty:
        return detach(&state, index: nil)
    case .tab:
        let text = state.editor.text
        guard let range = imageCommandArgument(text) else { return nil }
        let partial = ImagePaths.words(String(text[range])).last.map(\.text) ?? ""
        let (completed, candidates) = ImagePaths.complete(partial, state.files)
        // Replace the last word (as typed, escapes included) by the completion, escaped again.
        let words = ImagePaths.words(text)
        let start = text.hasSuffix(" ") || words.count < 2 ? Array(text).count : words[words.count - 1].range.lowerBound
        state.editor.setText(String(Array(text)[0..<start]) + ImagePaths.escaped(completed))
        if candidates.isEmpty {
            state.notice = completed == partial ? "no image or folder matches" : nil
        } else {
            let shown = candidates.prefix(8).joined(separator: "  ")
            state.notice = candidates.count > 8 ? shown + "  … (\(candidates.count))" : shown
        }
        return .redraw
    case let .paste(text):
        guard let paths = ImagePaths.pastedPaths(text, state.files) else { return nil }
        guard state.info.supportsImages else {
            _ = state.editor.handle(key)
            state.notice = "\(Sanitizer.clean(state.info.name, singleLine: true)) reads text only: the path was pasted as text"
            return .redraw
        }
        return attach(&state, paths: paths)
    default:
        return nil
    }
}

/// The range after "/image " (or /img, /attach) when the line is that command.
func imageCommandArgument(_ text: String) -> Range<String.Index>? {
    for name in ["/image ", "/img ", "/attach "] where text.lowercased().hasPrefix(name) {
        return text.index(text.startIndex, offsetBy: name.count)..<text.endIndex
    }
    return nil
}

extension ChatState {
    /// After a resume: every image of the conversation is read again in the background, to check it
    /// is still there and unchanged and to make its preview.
    mutating func verifyImages() -> Reaction {
        let paths = Set(messages.flatMap { $0.images.map(\.path) })
        guard !paths.isEmpty else { return [] }
        verifyingPaths = paths
        for p in paths.sorted() where !loadingPaths.contains(p) {
            loadingPaths.insert(p)
            imagesToLoad.append(p)
        }
        return .loadImages
    }
}
