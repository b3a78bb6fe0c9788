// The API's routes as values: method, path, the task that serves it, whether it needs a key, the
// schemas of its bodies and its handler. The router, the key check and the OpenAPI document are all
// made from this one table, so adding a route is adding one entry.
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Records

/// What a handler can reach: the service, the metrics, the served OpenAPI text and the open connections.
public struct RouteContext: Sendable {
    public let service: SpellingService
    public let metrics: ServerMetrics
    public let openapi: String
    public let connections: Connections
}

/// One route of the API.
public struct Route: Sendable {
    /// What the route answers with, for the OpenAPI document.
    public enum Body: Sendable {
        /// JSON in (POST) and out, by schema name.
        case json(request: String?, response: String)
        /// Prometheus text.
        case metrics
        /// The OpenAPI document itself.
        case document
    }
    public typealias Handler = @Sendable (Request, ServerContext, RouteContext) async throws -> Response

    public var method: String
    public var path: String
    public var summary: String
    /// nil = always served; else only when TASK_TYPE allows it.
    public var task: String?
    public var authenticated: Bool
    public var body: Body
    public var handler: Handler

    /// A GET route answering JSON.
    static func get<Out: Encodable>(_ path: String, _ summary: String, authenticated: Bool = false, schema: String,
                                    _ answer: @Sendable @escaping (RouteContext) throws -> (Out, HTTPResponse.Status)) -> Route {
        Route(method: "GET", path: path, summary: summary, task: nil, authenticated: authenticated, body: .json(request: nil, response: schema)) { _, _, rc in
            let (value, status) = try answer(rc)
            return try ServerApp.encode(value, status: status)
        }
    }

    /// A POST route: the body decoded (413/400/422 as `ServerApp.decode` says), the work cancelled if the
    /// client goes. Schemas are named after the body types. The connection stays open for the client's
    /// next request (keep-alive, pipelining): whether the client has gone is the connection guard's to
    /// tell (Connection.swift), not something read from the request.
    static func post<In: Decodable & Sendable, Out: Encodable & Sendable>(
        _ path: String, _ summary: String, task: String? = nil, _: In.Type, _: Out.Type,
        _ work: @Sendable @escaping (SpellingService, In) async throws -> Out) -> Route {
        Route(method: "POST", path: path, summary: summary, task: task, authenticated: true,
              body: .json(request: "\(In.self)", response: "\(Out.self)")) { request, context, rc in
            var request = request
            let connection = rc.connections[context.connectionID]   // before the body: a client may leave meanwhile
            let service = rc.service
            // Refusals that depend on nothing in the request cost no body read, no template, no tokenizer.
            try service.admissible()
            let body = try await ServerApp.decode(In.self, &request, context)
            let value = try await ServerApp.cancellable(connection) { try await work(service, body) }
            return try ServerApp.encode(value)
        }
    }
}

public enum Routes {
    public static let all: [Route] = [
        .get("/health", "Liveness: the process answers.", schema: "Health") { _ in (["status": "ok"], .ok) },
        .get("/health/ready", "Readiness: the model is loaded and the queue is not saturated.", schema: "Health") { rc in
            let (waiting, running) = rc.service.engine.load
            let ready = !rc.service.engine.saturated
            return (["status": ready ? "ready" : "saturated", "waiting": "\(waiting)", "running": "\(running)"], ready ? .ok : .serviceUnavailable)
        },
        Route(method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format).", task: nil, authenticated: false, body: .metrics) { _, _, rc in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: rc.metrics.registry.emitToString())))
        },
        Route(method: "GET", path: "/openapi.json", summary: "This document.", task: nil, authenticated: false, body: .document) { _, _, rc in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: rc.openapi)))
        },
        .get("/api/model", "Model and adapter identity (SHA-256) and their evaluation metrics.", authenticated: true, schema: "ModelInfo") { rc in
            (rc.service.info, .ok)
        },
        .post("/predict", "Generate from a prompt or messages with sampling parameters.", PredictRequest.self, PredictResponse.self) { try await $0.predict($1) },
        .post("/api/spelling/predict", "The model's spelling of a word, its letters and confidence.", task: "spelling",
              WordRequest.self, SpellingResponse.self) { try await $0.spell($1) },
        .post("/api/spelling/check", "Whether a spelling of a word is correct, with the model's own spelling.", task: "spelling",
              CheckRequest.self, CheckResponse.self) { try await $0.check($1) },
        .post("/api/position_count/letter_count", "How many times a letter occurs in a word: the model's answer and the truth.", task: "position_count",
              CountRequest.self, CountResponse.self) { try await $0.count($1) },
        .post("/api/position_count/letter_position", "The letter at a position of a word: the model's answer and the truth.", task: "position_count",
              PositionRequest.self, PositionResponse.self) { try await $0.position($1) },
    ]

    public static func served(_ t: TaskSet) -> [Route] {
        all.filter { r in r.task == nil || (r.task == "spelling" && t.spelling) || (r.task == "position_count" && t.positionCount) }
    }
}
