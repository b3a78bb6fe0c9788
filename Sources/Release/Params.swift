// params.yaml's `deployment:` section (the DVC pipeline's parameters file), applied over the
// request's defaults; unknown keys are errors, so a misspelt weight is not silently ignored.
import ConfigFiles
import Foundation
import Yams

public struct DeploymentParams: Decodable, Sendable {
    public struct HuggingFace: Decodable, Sendable {
        public var modelId: String?
        public var pushToHub: Bool?
        public var createModelCard: Bool?
        public var baseModel: String?
        public var `private`: Bool?
        public var pathInRepo: String?
        public var license: String?
        enum CodingKeys: String, CodingKey {
            case modelId = "model_id", pushToHub = "push_to_hub", createModelCard = "create_model_card", baseModel = "base_model", `private`
            case pathInRepo = "path_in_repo", license
        }
    }
    public struct WeightedScoring: Decodable, Sendable {
        public var weights: [String: Double]?
    }
    public var minImprovementThreshold: Double?
    public var modelRegistryName: String?
    public var huggingface: HuggingFace?
    public var weightedScoring: WeightedScoring?
    public var outputDir: String?
    enum CodingKeys: String, CodingKey {
        case minImprovementThreshold = "min_improvement_threshold", modelRegistryName = "model_registry_name", huggingface
        case weightedScoring = "weighted_scoring", outputDir = "output_dir"
    }

    static let keys: [String: Set<String>] = [
        "deployment": ["min_improvement_threshold", "model_registry_name", "huggingface", "weighted_scoring", "output_dir"],
        "huggingface": ["model_id", "push_to_hub", "create_model_card", "base_model", "private", "path_in_repo", "license"], "weighted_scoring": ["weights"],
    ]

    /// The `deployment` section of a params file (other sections belong to other stages).
    public static func load(_ path: String) throws -> DeploymentParams {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DeployError.badRequest("\(path): cannot read") }
        let root: Node?
        do { root = try BoundedYAML.compose(text, maxNodes: 10_000, maxDepth: 16) } catch { throw DeployError.badRequest("\(path): \(error)") }
        guard let section = root?.mapping?["deployment"] else { return DeploymentParams() }
        func check(_ node: Node, _ name: String) throws {
            guard let m = node.mapping else { throw DeployError.badRequest("\(path): \(name) must be a mapping") }
            for k in m.keys.compactMap(\.string) {
                if let allowed = keys[name], !allowed.contains(k) {
                    throw DeployError.badRequest("\(path): unknown key \(name).\(k) (known: \(allowed.sorted().joined(separator: ", ")))")
                }
                if let child = m[Node(k)], keys[k] != nil { try check(child, k) }
            }
        }
        try check(section, "deployment")
        do { return try YAMLDecoder().decode(DeploymentParams.self, from: section) } catch {
            throw DeployError.badRequest("\(path): deployment: \(error)")
        }
    }

    public init() {}

    /// The request with these parameters applied (flags given on the command line win; the caller
    /// applies them after).
    public func apply(to r: inout DeployRequest) {
        if let t = minImprovementThreshold { r.threshold = t }
        if let n = modelRegistryName { r.modelName = n }
        if let w = weightedScoring?.weights { r.weights = w }
        if let p = huggingface?.pushToHub { r.pushToHub = p }
        if let id = huggingface?.modelId { r.hubModelId = id }
        if let c = huggingface?.createModelCard { r.createModelCard = c }
        if let b = huggingface?.baseModel { r.hubBaseModel = b }
        if let p = huggingface?.private { r.hubPrivate = p }
        if let p = huggingface?.pathInRepo { r.hubPathInRepo = p }
        if let l = huggingface?.license { r.license = l }
        if let o = outputDir { r.outputDir = o }
    }
}
