// The OpenAPI 3.1 document of the API, generated from the route table (`Routes`): each route names
// its request and response schemas, defined below as typed values. Served at /openapi.json and
// committed as docs/openapi.json (a test keeps them equal), written by the project's deterministic
// JSON encoder.
import Foundation
import Records

/// A JSON Schema (the subset the API's bodies use).
public final class JSONSchema: Encodable, Sendable {
    public enum Extra: Encodable, Sendable {
        case allowed(Bool)
        case schema(JSONSchema)
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .allowed(let b): try c.encode(b)
            case .schema(let s): try c.encode(s)
            }
        }
    }

    let type: String?
    let ref: String?
    let properties: [String: JSONSchema]?
    let required: [String]?
    let additionalProperties: Extra?
    let items: JSONSchema?
    let values: [String]?
    let pattern: String?
    let description: String?
    let minimum: Int?, maximum: Int?, exclusiveMinimum: Int?, exclusiveMaximum: Int?
    let minLength: Int?, maxLength: Int?, minItems: Int?, maxItems: Int?

    init(type: String? = nil, ref: String? = nil, properties: [String: JSONSchema]? = nil, required: [String]? = nil, additionalProperties: Extra? = nil,
         items: JSONSchema? = nil, values: [String]? = nil, pattern: String? = nil, description: String? = nil,
         minimum: Int? = nil, maximum: Int? = nil, exclusiveMinimum: Int? = nil, exclusiveMaximum: Int? = nil,
         minLength: Int? = nil, maxLength: Int? = nil, minItems: Int? = nil, maxItems: Int? = nil) {
        self.type = type; self.ref = ref; self.properties = properties; self.required = required
        self.additionalProperties = additionalProperties; self.items = items; self.values = values
        self.pattern = pattern; self.description = description
        self.minimum = minimum; self.maximum = maximum; self.exclusiveMinimum = exclusiveMinimum; self.exclusiveMaximum = exclusiveMaximum
        self.minLength = minLength; self.maxLength = maxLength; self.minItems = minItems; self.maxItems = maxItems
    }

    enum CodingKeys: String, CodingKey {
        case type, ref = "$ref", properties, required, additionalProperties, items, values = "enum", pattern, description
        case minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems
    }

    /// An object that names its properties and allows others (clients may send more than the API reads).
    static func object(_ properties: [String: JSONSchema], required: [String] = []) -> JSONSchema {
        JSONSchema(type: "object", properties: properties, required: required.isEmpty ? nil : required, additionalProperties: .allowed(true))
    }
    static func ref(_ name: String) -> JSONSchema { JSONSchema(ref: "#/components/schemas/\(name)") }
    static func oneOf(_ values: [String]) -> JSONSchema { JSONSchema(type: "string", values: values) }
    static let string = JSONSchema(type: "string")
    static let integer = JSONSchema(type: "integer")
    static let boolean = JSONSchema(type: "boolean")
    static let anyObject = JSONSchema(type: "object")
    static let word = JSONSchema(type: "string", pattern: "^[A-Za-z]{1,64}$", description: "letters a-z (case-insensitive), 1 to 64")
    static let confidence = JSONSchema(type: "number", description: "the model's probability of the answer it gave (its tokens and its end)",
                                       minimum: 0, maximum: 1)
}

/// The document's shape (OpenAPI 3.1), as much of it as the API uses.
public struct OpenAPIDocument: Encodable, Sendable {
    public struct Info: Encodable, Sendable { var title, version, description: String }
    public struct MediaType: Encodable, Sendable { var schema: JSONSchema }
    public struct Response: Encodable, Sendable {
        var description: String
        var content: [String: MediaType]?
    }
    public struct RequestBody: Encodable, Sendable {
        var required: Bool
        var content: [String: MediaType]
    }
    public struct Operation: Encodable, Sendable {
        public var summary: String
        public var operationId: String
        public var responses: [String: Response]
        var requestBody: RequestBody?
        var security: [[String: [String]]]?
    }
    public struct SecurityScheme: Encodable, Sendable {
        var type: String
        var scheme: String?
        var location: String?
        var name: String?
        enum CodingKeys: String, CodingKey { case type, scheme, location = "in", name }
    }
    public struct Components: Encodable, Sendable {
        var schemas: [String: JSONSchema]
        var securitySchemes: [String: SecurityScheme]
    }

    public var openapi = "3.1.0"
    public var info: Info
    /// path → method (lowercase) → operation.
    public var paths: [String: [String: Operation]]
    public var components: Components
}

public enum OpenAPI {
    typealias S = JSONSchema

    /// Every body schema, by the name routes refer to.
    static func schemas(maxTokens: Int) -> [String: JSONSchema] {
        let message = S.object(["role": S.oneOf(["system", "user", "assistant"]), "content": S(type: "string", maxLength: 16384)], required: ["role", "content"])
        return [
            "Error": S.object(["error": S.string, "details": S(type: "object", additionalProperties: .schema(S.string))], required: ["error"]),
            "PredictRequest": S.object([
                "prompt": S(type: "string", maxLength: 16384), "messages": S(type: "array", items: message, minItems: 1, maxItems: 64),
                "max_tokens": S(type: "integer", minimum: 1, maximum: maxTokens), "temperature": S(type: "number", minimum: 0, maximum: 2),
                "top_p": S(type: "number", maximum: 1, exclusiveMinimum: 0), "top_k": S(type: "integer", minimum: 0, maximum: 1000),
                "min_p": S(type: "number", minimum: 0, exclusiveMaximum: 1), "seed": S(type: "integer", minimum: 0),
                "stop": S(type: "array", items: S(type: "string", minLength: 1, maxLength: 64), maxItems: 8), "thinking": S.boolean,
                "task_type": S.oneOf(["spelling", "letter_count", "letter_position", "general"]),
            ]),
            "PredictResponse": S.object(["text": S.string, "thinking": S.string, "finish_reason": S.oneOf(["stop_token", "stop_string", "length"]),
                                         "prompt_tokens": S.integer, "completion_tokens": S.integer, "confidence": S.confidence, "task_type": S.string],
                                        required: ["text", "finish_reason", "prompt_tokens", "completion_tokens", "confidence"]),
            "WordRequest": S.object(["word": S.word], required: ["word"]),
            "SpellingResponse": S.object(["word": S.string, "spelling": S.string, "letters": S(type: "array", items: S.string), "correct": S.boolean,
                                          "confidence": S.confidence, "answer": S.string],
                                         required: ["word", "spelling", "letters", "correct", "confidence", "answer"]),
            "CheckRequest": S.object(["word": S.word, "spelling": S(type: "string", minLength: 1, maxLength: 256)], required: ["word", "spelling"]),
            "CheckResponse": S.object(["word": S.string, "spelling": S.string, "is_correct": S.boolean, "suggestion": S.string, "model_spelling": S.string,
                                       "model_agrees": S.boolean, "confidence": S.confidence],
                                      required: ["word", "spelling", "is_correct", "suggestion", "model_spelling", "model_agrees", "confidence"]),
            "CountRequest": S.object(["word": S.word, "letter": S(type: "string", pattern: "^[A-Za-z]$")], required: ["word", "letter"]),
            "CountResponse": S.object(["word": S.string, "letter": S.string, "answer": S.string, "count": S.integer, "truth": S.integer,
                                       "correct": S.boolean, "confidence": S.confidence],
                                      required: ["word", "letter", "answer", "truth", "correct", "confidence"]),
            "PositionRequest": S.object(["word": S.word, "position": S(type: "integer", description: "1-based, within the word", minimum: 1, maximum: 64)],
                                        required: ["word", "position"]),
            "PositionResponse": S.object(["word": S.string, "position": S.integer, "answer": S.string, "letter": S.string, "truth": S.string,
                                          "correct": S.boolean, "confidence": S.confidence],
                                         required: ["word", "position", "answer", "truth", "correct", "confidence"]),
            "Health": S.object(["status": S.string, "waiting": S.string, "running": S.string], required: ["status"]),
            "ModelInfo": S.object(["model": S.string, "model_sha256": S.string, "architecture": S.string, "adapter": S.string, "adapter_sha256": S.string,
                                   "registered": S.anyObject, "evaluation": S.anyObject, "evaluation_source": S.string,
                                   "max_batch_size": S.integer, "task_type": S.string, "device": S.string],
                                  required: ["model", "model_sha256", "architecture", "max_batch_size", "task_type", "device"]),
        ]
    }

    static func json(_ schema: JSONSchema, _ description: String) -> OpenAPIDocument.Response {
        .init(description: description, content: ["application/json": .init(schema: schema)])
    }
    static func error(_ why: String) -> OpenAPIDocument.Response { json(S.ref("Error"), why) }

    /// "post" + "/api/spelling/predict" → "postApiSpellingPredict".
    static func operationId(_ route: Route) -> String {
        route.method.lowercased() + route.path.split(separator: "/").map { part in
            part.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        }.joined().replacingOccurrences(of: ".", with: "")
    }

    static func operation(_ route: Route) -> OpenAPIDocument.Operation {
        var responses: [String: OpenAPIDocument.Response] = [:]
        var requestBody: OpenAPIDocument.RequestBody?
        switch route.body {
        case .metrics: responses["200"] = .init(description: "Prometheus text format", content: ["text/plain": .init(schema: S.string)])
        case .document: responses["200"] = json(S.anyObject, "This document")
        case .json(let request, let response):
            responses["200"] = json(S.ref(response), "OK")
            if let request {
                requestBody = .init(required: true, content: ["application/json": .init(schema: S.ref(request))])
                responses["400"] = error("The body is not a JSON object")
                responses["413"] = error("The body is over the size limit")
                responses["422"] = error("A field is missing or invalid; details name it")
                responses["499"] = error("The client closed the connection (not seen by it)")
                responses["503"] = error("The server is shutting down")
                responses["504"] = error("The request took longer than REQUEST_TIMEOUT")
            }
        }
        if route.path == "/health/ready" { responses["503"] = json(S.ref("Health"), "Not ready: the queue is saturated or the server is stopping") }
        if route.authenticated {
            responses["401"] = error("No valid API key (when keys are configured)")
            responses["429"] = error("Rate limit exceeded or queue full; see Retry-After")
        }
        return .init(summary: route.summary, operationId: operationId(route), responses: responses, requestBody: requestBody,
                     security: route.authenticated ? [["bearer": []], ["apiKey": []]] : nil)
    }

    public static func document(for tasks: TaskSet, maxTokens: Int = ServeConfig().maxTokensLimit) -> OpenAPIDocument {
        var paths: [String: [String: OpenAPIDocument.Operation]] = [:]
        for route in Routes.served(tasks) { paths[route.path, default: [:]][route.method.lowercased()] = operation(route) }
        return OpenAPIDocument(
            info: .init(title: "Strawberry", version: "1.0.0",
                        description: "Spelling, letter-count and letter-position answers from a LoRA fine-tuned model, with the truth and live accuracy."),
            paths: paths,
            components: .init(schemas: schemas(maxTokens: maxTokens),
                              securitySchemes: ["bearer": .init(type: "http", scheme: "bearer"),
                                                "apiKey": .init(type: "apiKey", location: "header", name: "X-API-Key")]))
    }

    /// The document as deterministic JSON text (sorted keys, two-space indentation).
    public static func json(for tasks: TaskSet, maxTokens: Int = ServeConfig().maxTokensLimit) throws -> String {
        try RecordFile.text(document(for: tasks, maxTokens: maxTokens), pretty: true) + "\n"
    }
}
