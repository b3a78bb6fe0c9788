// The OpenAPI 3.1 document of the API, built from the routes table and the request and response
// schemas below; served at /openapi.json and committed as docs/openapi.json (a test keeps them equal).
import Foundation

public enum OpenAPI {
    typealias Schema = [String: Any]

    static func object(_ properties: [String: Schema], required: [String] = []) -> Schema {
        var s: Schema = ["type": "object", "properties": properties, "additionalProperties": true]
        if !required.isEmpty { s["required"] = required }
        return s
    }
    nonisolated(unsafe) static let string: Schema = ["type": "string"]
    nonisolated(unsafe) static let number: Schema = ["type": "number"]
    nonisolated(unsafe) static let integer: Schema = ["type": "integer"]
    nonisolated(unsafe) static let boolean: Schema = ["type": "boolean"]
    nonisolated(unsafe) static let word: Schema = ["type": "string", "pattern": "^[A-Za-z]{1,64}$", "description": "letters a-z (case-insensitive), 1 to 64"]
    nonisolated(unsafe) static let confidence: Schema = ["type": "number", "minimum": 0, "maximum": 1, "description": "the model's probability of the answer it gave (its tokens and its end)"]

    nonisolated(unsafe) static let schemas: [String: Schema] = [
        "Error": object(["error": string, "details": ["type": "object", "additionalProperties": ["type": "string"]]], required: ["error"]),
        "PredictRequest": object([
            "prompt": ["type": "string", "maxLength": 16384], "messages": ["type": "array", "minItems": 1, "maxItems": 64, "items": object(["role": ["type": "string", "enum": ["system", "user", "assistant"]], "content": ["type": "string", "maxLength": 16384]], required: ["role", "content"])],
            "max_tokens": ["type": "integer", "minimum": 1, "maximum": 512], "temperature": ["type": "number", "minimum": 0, "maximum": 2],
            "top_p": ["type": "number", "exclusiveMinimum": 0, "maximum": 1], "top_k": ["type": "integer", "minimum": 0, "maximum": 1000],
            "min_p": ["type": "number", "minimum": 0, "exclusiveMaximum": 1], "seed": ["type": "integer", "minimum": 0],
            "stop": ["type": "array", "maxItems": 8, "items": ["type": "string", "minLength": 1, "maxLength": 64]], "thinking": boolean,
            "task_type": ["type": "string", "enum": ["spelling", "letter_count", "letter_position", "general"]],
        ]),
        "PredictResponse": object(["text": string, "thinking": string, "finish_reason": ["type": "string", "enum": ["stop_token", "stop_string", "length"]],
                                   "prompt_tokens": integer, "completion_tokens": integer, "confidence": confidence, "task_type": string],
                                  required: ["text", "finish_reason", "prompt_tokens", "completion_tokens", "confidence"]),
        "WordRequest": object(["word": word], required: ["word"]),
        "SpellingResponse": object(["word": string, "spelling": string, "letters": ["type": "array", "items": string], "correct": boolean,
                                    "confidence": confidence, "answer": string], required: ["word", "spelling", "letters", "correct", "confidence", "answer"]),
        "CheckRequest": object(["word": word, "spelling": ["type": "string", "minLength": 1, "maxLength": 256]], required: ["word", "spelling"]),
        "CheckResponse": object(["word": string, "spelling": string, "is_correct": boolean, "suggestion": string, "model_spelling": string,
                                 "model_agrees": boolean, "confidence": confidence],
                                required: ["word", "spelling", "is_correct", "suggestion", "model_spelling", "model_agrees", "confidence"]),
        "CountRequest": object(["word": word, "letter": ["type": "string", "pattern": "^[A-Za-z]$"]], required: ["word", "letter"]),
        "CountResponse": object(["word": string, "letter": string, "answer": string, "count": integer, "truth": integer, "correct": boolean, "confidence": confidence],
                                required: ["word", "letter", "answer", "truth", "correct", "confidence"]),
        "PositionRequest": object(["word": word, "position": ["type": "integer", "minimum": 1, "maximum": 64, "description": "1-based, within the word"]], required: ["word", "position"]),
        "PositionResponse": object(["word": string, "position": integer, "answer": string, "letter": string, "truth": string, "correct": boolean, "confidence": confidence],
                                   required: ["word", "position", "answer", "truth", "correct", "confidence"]),
        "Health": object(["status": string, "waiting": string, "running": string], required: ["status"]),
        "ModelInfo": object(["model": string, "model_sha256": string, "architecture": string, "adapter": string, "adapter_sha256": string,
                             "registered": ["type": "object"], "evaluation": ["type": "object"], "evaluation_source": string,
                             "max_batch_size": integer, "task_type": string, "device": string],
                            required: ["model", "model_sha256", "architecture", "max_batch_size", "task_type", "device"]),
    ]

    /// (request schema, response schema) per POST route; GET routes have a response only.
    nonisolated(unsafe) static let bodies: [String: (request: String?, response: String)] = [
        "/predict": ("PredictRequest", "PredictResponse"),
        "/api/spelling/predict": ("WordRequest", "SpellingResponse"),
        "/api/spelling/check": ("CheckRequest", "CheckResponse"),
        "/api/position_count/letter_count": ("CountRequest", "CountResponse"),
        "/api/position_count/letter_position": ("PositionRequest", "PositionResponse"),
        "/health": (nil, "Health"), "/health/ready": (nil, "Health"), "/api/model": (nil, "ModelInfo"),
    ]

    static func ref(_ name: String) -> Schema { ["$ref": "#/components/schemas/\(name)"] }
    static func error(_ why: String) -> Schema { ["description": why, "content": ["application/json": ["schema": ref("Error")]]] }

    public static func document(for tasks: TaskSet, maxTokens: Int = ServeConfig().maxTokensLimit) -> [String: Any] {
        var schemas = Self.schemas
        if var predict = schemas["PredictRequest"], var props = predict["properties"] as? [String: Any] {
            props["max_tokens"] = ["type": "integer", "minimum": 1, "maximum": maxTokens]
            predict["properties"] = props
            schemas["PredictRequest"] = predict
        }
        var paths: [String: Any] = [:]
        for route in Routes.served(tasks) {
            var responses: [String: Any] = [:]
            switch route.path {
            case "/metrics": responses["200"] = ["description": "Prometheus text format", "content": ["text/plain": ["schema": string]]]
            case "/openapi.json": responses["200"] = ["description": "This document", "content": ["application/json": ["schema": ["type": "object"]]]]
            default:
                if let b = bodies[route.path] { responses["200"] = ["description": "OK", "content": ["application/json": ["schema": ref(b.response)]]] }
            }
            if route.path == "/health/ready" { responses["503"] = ["description": "Not ready: the queue is saturated or the server is stopping", "content": ["application/json": ["schema": ref("Health")]]] }
            if route.authenticated {
                responses["401"] = error("No valid API key (when keys are configured)")
                responses["429"] = error("Rate limit exceeded or queue full; see Retry-After")
            }
            var op: [String: Any] = ["summary": route.summary, "operationId": route.method.lowercased() + route.path.split(separator: "/").map { $0.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() }.joined().replacingOccurrences(of: ".", with: ""),
                                     "responses": responses]
            if route.method == "POST", let b = bodies[route.path], let req = b.request {
                op["requestBody"] = ["required": true, "content": ["application/json": ["schema": ref(req)]]]
                responses["400"] = error("The body is not a JSON object")
                responses["413"] = error("The body is over the size limit")
                responses["422"] = error("A field is missing or invalid; details name it")
                responses["499"] = error("The client closed the connection (not seen by it)")
                responses["503"] = error("The server is shutting down")
                responses["504"] = error("The request took longer than REQUEST_TIMEOUT")
                op["responses"] = responses
            }
            if route.authenticated { op["security"] = [["bearer": [String]()], ["apiKey": [String]()]] }
            paths[route.path] = [route.method.lowercased(): op]
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "Strawberry", "version": "1.0.0",
                     "description": "Spelling, letter-count and letter-position answers from a LoRA fine-tuned model, with the truth and live accuracy."],
            "paths": paths,
            "components": ["schemas": schemas,
                           "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"], "apiKey": ["type": "apiKey", "in": "header", "name": "X-API-Key"]]],
        ]
    }

    /// The document as deterministic JSON text (sorted keys, two-space indentation by JSONSerialization).
    public static func json(for tasks: TaskSet, maxTokens: Int = ServeConfig().maxTokensLimit) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: document(for: tasks, maxTokens: maxTokens), options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
