import Foundation
@testable import Inference
import TestSupport

/// The fixtures' transformers-format messages (image parts name files relative to Tests/Fixtures/vl) as
/// engine messages plus the image paths in order.
func fixtureMessages(_ raw: [[String: Any]]) -> (messages: [ChatMessage], images: [String]) {
    let vl = Fixtures.url("vl")
    var images: [String] = []
    let list = raw.map { m -> ChatMessage in
        let role = m["role"] as! String
        if let text = m["content"] as? String { return ChatMessage(role: role, text: text) }
        return ChatMessage(role: role, parts: (m["content"] as! [[String: Any]]).map { part in
            if part["type"] as? String == "image" {
                images.append(vl.appendingPathComponent(part["image"] as! String).path)
                return .image
            }
            return .text(part["text"] as! String)
        })
    }
    return (list, images)
}
