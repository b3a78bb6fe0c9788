// YAML configs read safely: the document is composed into a node tree and measured (with an early
// stop) before anything walks it in full, because aliases can make a few bytes expand into a tree
// of billions of nodes, and nesting can exhaust the stack.
import Yams

public enum BoundedYAML {
    public struct TooLarge: Error, CustomStringConvertible {
        public let maxNodes: Int, maxDepth: Int
        public var description: String { "the document expands to more than \(maxNodes) values or \(maxDepth) levels (YAML aliases?)" }
    }

    /// The document's root node (nil for an empty document), refused when larger than the bounds.
    public static func compose(_ text: String, maxNodes: Int = 100_000, maxDepth: Int = 32) throws -> Node? {
        // A UTF-8 byte-order mark (some editors write one) is not part of the document.
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        guard let node = try Yams.compose(yaml: text) else { return nil }
        var budget = maxNodes
        guard node.fits(budget: &budget, depth: maxDepth) else { throw TooLarge(maxNodes: maxNodes, maxDepth: maxDepth) }
        return node
    }
}

extension Node {
    /// Whether the tree has at most `budget` nodes and `depth` levels; stops counting early.
    func fits(budget: inout Int, depth: Int) -> Bool {
        budget -= 1
        guard budget >= 0, depth >= 0 else { return false }
        switch self {
        case .scalar: return true
        case .sequence(let s): return s.allSatisfy { $0.fits(budget: &budget, depth: depth - 1) }
        case .mapping(let m): return m.allSatisfy { $0.key.fits(budget: &budget, depth: depth - 1) && $0.value.fits(budget: &budget, depth: depth - 1) }
        case .alias: return false
        }
    }
}
