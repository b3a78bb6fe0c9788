// Byte-pair encoding model (Sennrich et al. 2016; GPT-2's byte-level variant): a piece starts
// as one symbol per byte and the lowest-ranked adjacent pair is merged until no pair has a
// rank. Merges are applied with a heap over a linked list of symbols, lowest rank first and
// leftmost first on ties — the order Hugging Face `tokenizers` uses — so long pieces cost
// O(n log n) instead of the O(n²) of the textbook loop.

public struct BPEModel: Sendable {
    /// Token string (byte-level alphabet) → id, and id → string.
    public let vocab: [String: Int]
    public let tokens: [String]
    /// The merges in priority order, as given (kept for writing tokenizer.json back out).
    public let mergeList: [(String, String)]
    /// (left id << 32 | right id) → (rank, merged id)
    let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Id of the single-byte token for each byte; -1 where the vocabulary has none (SmolLM2 lacks
    /// a few control bytes). Such bytes are dropped, as `tokenizers` does for a BPE without unk_token.
    let byteIds: [Int32]

    public enum BuildError: Error, CustomStringConvertible {
        case badMerge(index: Int, text: String)
        case mergeTokenMissing(index: Int, token: String)
        public var description: String {
            switch self {
            case .badMerge(let i, let t): return "merge \(i) '\(t)' is not two tokens"
            case .mergeTokenMissing(let i, let t): return "merge \(i) names '\(t)', which is not in the vocabulary"
            }
        }
    }

    /// `tokens[i]` is the string of id i; `merges` are (left, right) pairs in priority order, or,
    /// with `ranks`, each at its given rank (equal ranks: leftmost pair first, as tiktoken does).
    public init(tokens: [String], merges: [(String, String)], ranks: [Int32]? = nil) throws {
        precondition(ranks == nil || ranks?.count == merges.count, "one rank per merge")
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where vocab[t] == nil { vocab[t] = i }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a] else { throw BuildError.mergeTokenMissing(index: rank, token: a) }
            guard let ib = vocab[b] else { throw BuildError.mergeTokenMissing(index: rank, token: b) }
            guard let im = vocab[a + b] else { throw BuildError.mergeTokenMissing(index: rank, token: a + b) }
            let key = UInt64(ia) << 32 | UInt64(ib)
            if table[key] == nil { table[key] = (ranks?[rank] ?? Int32(rank), Int32(im)) }
        }
        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteIds[b] = Int32(vocab[String(ByteLevel.scalarForByte[b])] ?? -1) }
        self.vocab = vocab
        self.tokens = tokens
        self.merges = table
        self.mergeList = merges
        self.byteIds = byteIds
    }

    /// Token ids for the UTF-8 bytes of one pre-tokenised piece.
    public func encode(bytes: [UInt8]) -> [Int] {
        var ids = bytes.map { byteIds[Int($0)] }.filter { $0 >= 0 }
        let n = ids.count
        if n <= 1 { return ids.map(Int.init) }
        var prev = (0..<n).map { Int32($0) - 1 }
        var next = (0..<n).map { $0 + 1 < n ? Int32($0 + 1) : -1 }
        var heap = MergeHeap()
        func push(_ i: Int32) {
            let j = next[Int(i)]
            guard j >= 0, let m = merges[UInt64(UInt32(ids[Int(i)])) << 32 | UInt64(UInt32(ids[Int(j)]))] else { return }
            heap.push(.init(rank: m.rank, pos: i, left: ids[Int(i)], right: ids[Int(j)]))
        }
        for i in 0..<(n - 1) { push(Int32(i)) }
        while let top = heap.pop() {
            let i = Int(top.pos)
            let j = Int(next[i])
            // Skip stale entries: either symbol changed since this pair was queued.
            guard ids[i] == top.left, j >= 0, ids[j] == top.right else { continue }
            guard let m = merges[UInt64(UInt32(top.left)) << 32 | UInt64(UInt32(top.right))] else { continue }
            ids[i] = m.id
            ids[j] = -1
            let k = next[j]
            next[i] = k
            if k >= 0 { prev[Int(k)] = Int32(i) }
            if prev[i] >= 0 { push(prev[i]) }
            push(Int32(i))
        }
        var out: [Int] = []
        var i: Int32 = 0
        while i >= 0 { out.append(Int(ids[Int(i)])); i = next[Int(i)] }
        return out
    }
}

struct MergeHeap {
    struct Entry { let rank: Int32; let pos: Int32; let left: Int32; let right: Int32 }
    var items: [Entry] = []

    static func less(_ a: Entry, _ b: Entry) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos }

    mutating func push(_ e: Entry) {
        items.append(e)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard Self.less(items[c], items[p]) else { break }
            items.swapAt(c, p)
            c = p
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count, Self.less(items[l], items[m]) { m = l }
                if r < items.count, Self.less(items[r], items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return first
    }
}
