// Secrets never leave in a message: URLs are written with their password (userinfo) and any
// query parameter named like a credential replaced by "***", wherever a URL is shown — errors,
// logs, deployment_logs.txt, records. MLFLOW_TRACKING_URI=http://user:pass@host and signed
// download URLs are the cases this exists for.

public enum Redact {
    /// Query parameters whose values are credentials (compared lower-cased; AWS-style signed URLs
    /// included).
    static let secretParameters: Set<String> = ["token", "access_token", "api_key", "apikey", "key", "secret", "password", "passwd",
                                                "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "credential"]

    /// `url` with its userinfo password (or a lone userinfo, often a token) and secret query values
    /// replaced by "***". Text that is not a URL comes back unchanged.
    public static func url(_ url: String) -> String {
        // Without a scheme ("user:pass@host/x", a mistyped endpoint), the authority starts the text.
        let start = url.range(of: "://")?.upperBound ?? url.startIndex
        let afterScheme = url[start...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        var authority = String(afterScheme[..<authorityEnd])
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            let user = info.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            authority = (user.count == 2 ? user[0] + ":***" : "***") + authority[at...]
        }
        var rest = String(afterScheme[authorityEnd...])
        if let q = rest.firstIndex(of: "?") {
            let fragment = rest[q...].firstIndex(of: "#").map { String(rest[$0...]) } ?? ""
            let query = rest[rest.index(after: q)...].prefix { $0 != "#" }
            let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2, secretParameters.contains(kv[0].lowercased()) else { return String(pair) }
                return kv[0] + "=***"
            }
            rest = String(rest[..<q]) + "?" + pairs.joined(separator: "&") + fragment
        }
        return String(url[..<start]) + authority + rest
    }

    /// Every URL inside a line of text, redacted (for messages that quote an error they did not make).
    public static func text(_ s: String) -> String {
        guard s.contains("://") || s.contains("@") else { return s }
        var out = "", word = ""
        func flush() { out += word.contains("://") || word.contains("@") ? url(word) : word; word = "" }
        for ch in s {
            if ch.isWhitespace || ch == "\"" || ch == "'" || ch == "(" || ch == ")" || ch == "<" || ch == ">" || ch == "," { flush(); out.append(ch) }
            else { word.append(ch) }
        }
        flush()
        return out
    }
}
