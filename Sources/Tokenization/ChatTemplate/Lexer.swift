// Splits a template into text and tags, applying Jinja2's whitespace control as
// transformers configures it: `trim_blocks` (drop the first newline after a block tag) and
// `lstrip_blocks` (drop spaces/tabs before a block tag at the start of a line), plus the
// explicit `{%-`, `-%}`, `{{-`, `-}}` markers.

enum TemplatePiece {
    case text(String)
    case output(String, line: Int)      // {{ expr }}
    case statement(String, line: Int)   // {% stmt %}
}

public struct ChatTemplateError: Error, CustomStringConvertible {
    public let line: Int
    public let reason: String
    public var description: String { "chat template line \(line): \(reason)" }
}

enum TemplateLexer {
    static func lex(_ source: String) throws -> [TemplatePiece] {
        let s = Array(source.unicodeScalars)
        var pieces: [TemplatePiece] = []
        var text: [Unicode.Scalar] = []
        var i = 0, line = 1
        var trimNextNewline = false, stripLeadingWS = false

        // Whether the pending text begins at the start of a source line (for lstrip_blocks).
        var segmentAtLineStart = true

        func flushText(stripRight: Bool, lstripBlock: Bool) {
            if stripRight {
                while let l = text.last, l.properties.isWhitespace { text.removeLast() }
            } else if lstripBlock {
                var k = text.count
                while k > 0, text[k - 1] == " " || text[k - 1] == "\t" { k -= 1 }
                if k > 0 ? text[k - 1] == "\n" : segmentAtLineStart { text.removeSubrange(k...) }
            }
            if !text.isEmpty { pieces.append(.text(String(String.UnicodeScalarView(text)))) }
            text.removeAll()
        }

        while i < s.count {
            let c = s[i]
            if c == "{", i + 1 < s.count, s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#" {
                let kind = s[i + 1]
                let close: Unicode.Scalar = kind == "{" ? "}" : kind == "%" ? "%" : "#"
                var j = i + 2
                let minusLeft = j < s.count && s[j] == "-"
                let plusLeft = j < s.count && s[j] == "+"
                if minusLeft || plusLeft { j += 1 }
                let bodyStart = j
                var end = -1
                while j + 1 < s.count {
                    if s[j] == close && s[j + 1] == "}" { end = j; break }
                    j += 1
                }
                guard end >= 0 else { throw ChatTemplateError(line: line, reason: "unclosed tag") }
                var bodyEnd = end
                let minusRight = bodyEnd > bodyStart && s[bodyEnd - 1] == "-"
                if minusRight { bodyEnd -= 1 }
                let body = String(String.UnicodeScalarView(s[bodyStart..<bodyEnd]))
                let isBlock = kind != "{"
                flushText(stripRight: minusLeft, lstripBlock: isBlock && !plusLeft)
                let tagLine = line
                line += body.unicodeScalars.filter { $0 == "\n" }.count
                switch kind {
                case "{": pieces.append(.output(body.trimmingWhitespace, line: tagLine))
                case "%": pieces.append(.statement(body.trimmingWhitespace, line: tagLine))
                default: break
                }
                i = end + 2
                stripLeadingWS = minusRight
                trimNextNewline = isBlock && !minusRight
                segmentAtLineStart = false
                if stripLeadingWS {
                    while i < s.count, s[i].properties.isWhitespace { if s[i] == "\n" { line += 1 }; i += 1 }
                } else if trimNextNewline, i < s.count, s[i] == "\n" {
                    i += 1
                    line += 1
                    segmentAtLineStart = true
                }
                continue
            }
            if c == "\n" { line += 1 }
            text.append(c)
            i += 1
        }
        flushText(stripRight: false, lstripBlock: false)
        return pieces
    }
}

extension String {
    var trimmingWhitespace: String {
        let u = Array(unicodeScalars)
        var a = 0, b = u.count
        while a < b, u[a].properties.isWhitespace { a += 1 }
        while b > a, u[b - 1].properties.isWhitespace { b -= 1 }
        return String(String.UnicodeScalarView(u[a..<b]))
    }
}
