// PEFT adapter directories: `adapter_config.json` + `adapter_model.safetensors` with keys
// `base_model.model.<module path>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r].
// Written with PEFT's full key set so PEFT loads it without warnings; read from PEFT's own output.
import Foundation
import ModelFormats
import Models

public enum PEFTAdapter {
    public static func save(_ lora: LoRAState, baseModel: String, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var tensors: [String: (shape: [Int], data: [Float])] = [:]
        for m in lora.modules {
            tensors[m.peftKeyA] = ([lora.config.r, m.inFeatures], Array(lora.a(m)))
            tensors[m.peftKeyB] = ([m.outFeatures, lora.config.r], Array(lora.b(m)))
        }
        try SafetensorsWriter.write(tensors, to: dir + "/adapter_model.safetensors")
        let c = lora.config
        let config: [String: Any] = [
            "alpha_pattern": [String: Any](), "auto_mapping": (), "base_model_name_or_path": baseModel, "bias": "none",
            "eva_config": (), "exclude_modules": (), "fan_in_fan_out": lora.architecture == .gpt2, "inference_mode": true,
            "init_lora_weights": true, "layer_replication": (), "layers_pattern": (), "layers_to_transform": (),
            "loftq_config": [String: Any](), "lora_alpha": c.alpha, "lora_bias": false, "lora_dropout": c.dropout,
            "megatron_config": (), "megatron_core": "megatron.core", "modules_to_save": (), "peft_type": "LORA", "r": c.r,
            "rank_pattern": [String: Any](), "revision": (), "target_modules": resolvedTargets(lora), "task_type": "CAUSAL_LM",
            "use_dora": false, "use_rslora": c.useRSLoRA,
        ]
        try writeTextAtomically(try JSONWriter.string(config, pretty: true) + "\n", to: dir + "/adapter_config.json")
    }

    /// The adapted modules' names as PEFT writes them (all-linear resolved to the layers it matched).
    static func resolvedTargets(_ lora: LoRAState) -> [String] {
        Array(Set(lora.modules.map { String($0.kind.split(separator: ".").last!) })).sorted()
    }

    /// Reads an adapter for a model of configuration `model`; every tensor must match a layer.
    public static func load(_ dir: String, model: ModelConfig) throws -> LoRAState {
        let cfgPath = dir + "/adapter_config.json"
        guard fileExists(cfgPath) else { throw LoRAError(message: "\(dir): no adapter_config.json; is this a PEFT adapter directory?") }
        let json: JSONValue
        do { json = try JSONParser.parse(try readText(cfgPath)) } catch { throw LoRAError(message: "\(cfgPath): \(error)") }
        guard json["peft_type"]?.string ?? "LORA" == "LORA" else { throw LoRAError(message: "\(cfgPath): only LoRA adapters are supported") }
        if json["use_dora"]?.bool == true { throw LoRAError(message: "\(cfgPath): DoRA adapters are not supported") }
        guard let r = json["r"]?.int, let alpha = json["lora_alpha"]?.double else { throw LoRAError(message: "\(cfgPath): missing r or lora_alpha") }
        if let rp = json["rank_pattern"]?.object, !rp.isEmpty { throw LoRAError(message: "\(cfgPath): rank_pattern is not supported") }
        var targets: [String]
        if let list = json["target_modules"]?.array { targets = list.compactMap(\.string) }
        else if let s = json["target_modules"]?.string { throw LoRAError(message: "\(cfgPath): regex target_modules '\(s)' is not supported") }
        else { targets = [] }
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        let cfg = LoRAConfig(r: r, alpha: alpha, dropout: json["lora_dropout"]?.double ?? 0, targetModules: targets,
                             useRSLoRA: json["use_rslora"]?.bool ?? false)
        var state = try LoRAState(model: model, config: cfg, seed: 0)
        try fill(&state, from: st, path: dir)
        return state
    }

    /// Copies every module's factors from a safetensors file with PEFT keys; the file must hold
    /// exactly those tensors, with the right shapes.
    public static func fill(_ state: inout LoRAState, from st: SafetensorsFile, path dir: String) throws {
        let r = state.config.r
        let present = Set(st.tensors.map(\.name))
        var used = Set<String>()
        for m in state.modules {
            guard present.contains(m.peftKeyA), present.contains(m.peftKeyB) else {
                throw LoRAError(message: "\(dir): adapter lacks \(m.peftKeyA) / lora_B for target \(m.kind)")
            }
            let a = try st.float32(m.peftKeyA), b = try st.float32(m.peftKeyB)
            guard st.info(m.peftKeyA)?.shape == [r, m.inFeatures], st.info(m.peftKeyB)?.shape == [m.outFeatures, r] else {
                throw LoRAError(message: "\(dir): \(m.path) has shapes \(st.info(m.peftKeyA)!.shape) / \(st.info(m.peftKeyB)!.shape), expected [\(r), \(m.inFeatures)] / [\(m.outFeatures), \(r)]; is it for another model?")
            }
            state.values.replaceSubrange(m.offsetA..<(m.offsetA + a.count), with: a)
            state.values.replaceSubrange(m.offsetB..<(m.offsetB + b.count), with: b)
            used.insert(m.peftKeyA)
            used.insert(m.peftKeyB)
        }
        let extra = present.subtracting(used).sorted()
        guard extra.isEmpty else { throw LoRAError(message: "\(dir): tensors that match no layer of this model: \(extra.prefix(5).joined(separator: ", "))") }
    }
}
