// PEFT adapter directories: `adapter_config.json` + `adapter_model.safetensors` with keys
// `base_model.model.<module path>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r].
// Written with PEFT's full key set so PEFT loads it without warnings; read from PEFT's own output.
import Foundation
import ModelFormats
import Models
import Records

public enum PEFTAdapter {
    public static func save(_ lora: LoRAState, baseModel: String, to dir: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw AdapterError.io(path: dir, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        try SafetensorsWriter.write(tensors(lora), to: dir + "/adapter_model.safetensors")
        let c = lora.config
        let config = PEFTAdapterConfig(r: c.r, loraAlpha: c.alpha, loraDropout: c.dropout, targetModules: resolvedTargets(lora),
                                       useRSLoRA: c.useRSLoRA, baseModel: baseModel, fanInFanOut: lora.architecture.descriptor.conv1DWeights)
        try RecordFile.write(config, to: dir + "/adapter_config.json")
    }

    /// Every factor under its PEFT key: A [r, in], B [out, r] (also the layout of gradients written
    /// for comparison with PEFT).
    public static func tensors(_ lora: LoRAState) -> [String: (shape: [Int], data: [Float])] {
        var tensors: [String: (shape: [Int], data: [Float])] = [:]
        for m in lora.modules {
            tensors[m.peftKeyA] = ([lora.config.r, m.inFeatures], Array(lora.a(m)))
            tensors[m.peftKeyB] = ([m.outFeatures, lora.config.r], Array(lora.b(m)))
        }
        return tensors
    }

    /// The adapted modules' names as PEFT writes them (all-linear resolved to the layers it matched).
    static func resolvedTargets(_ lora: LoRAState) -> [String] {
        Array(Set(lora.modules.map { $0.kind.split(separator: ".").last.map(String.init) ?? $0.kind })).sorted()
    }

    /// Reads an adapter's configuration, checking what Strawberry cannot apply.
    public static func config(_ dir: String) throws -> PEFTAdapterConfig {
        let path = dir + "/adapter_config.json"
        guard fileExists(path) else { throw AdapterError.notAnAdapter(path: dir) }
        let c = try RecordFile.read(PEFTAdapterConfig.self, from: path)
        guard c.peftType == "LORA" else { throw AdapterError.unsupported(path: path, feature: "peft_type \(c.peftType)") }
        if c.useDoRA { throw AdapterError.unsupported(path: path, feature: "DoRA (use_dora)") }
        if !c.rankPattern.isEmpty { throw AdapterError.unsupported(path: path, feature: "rank_pattern") }
        if !c.alphaPattern.isEmpty { throw AdapterError.unsupported(path: path, feature: "alpha_pattern") }
        if case .regex(let r) = c.targetModules { throw AdapterError.unsupported(path: path, feature: "a regular-expression target_modules ('\(r)')") }
        if c.layersToTransform != nil || c.layersPattern != nil { throw AdapterError.unsupported(path: path, feature: "layers_to_transform / layers_pattern") }
        if c.modulesToSave != nil { throw AdapterError.unsupported(path: path, feature: "modules_to_save (fully trained extra modules)") }
        if c.bias != "none" { throw AdapterError.unsupported(path: path, feature: "bias '\(c.bias)'") }
        return c
    }

    /// Checks an adapter on its own, when no base model is at hand: a configuration Strawberry can
    /// apply with a rank in range, and a safetensors file that holds exactly pairs of
    /// `….lora_A.weight` [r, in] and `….lora_B.weight` [out, r] with finite values. Returns the
    /// number of adapted modules and the rank.
    public static func check(_ dir: String) throws -> (modules: Int, r: Int) {
        let pc = try config(dir)
        guard case .names(let targets) = pc.targetModules, !targets.isEmpty else {
            throw AdapterError.badConfig(path: dir + "/adapter_config.json", reason: "target_modules names no module")
        }
        do { try LoRAConfig(r: pc.r, alpha: pc.loraAlpha, dropout: 0).validate() } catch {
            throw AdapterError.badConfig(path: dir + "/adapter_config.json", reason: error.description)
        }
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        var modules = Set<String>()
        for t in st.tensors {
            let module: String, expectA: Bool
            if t.name.hasSuffix(".lora_A.weight") { module = String(t.name.dropLast(".lora_A.weight".count)); expectA = true }
            else if t.name.hasSuffix(".lora_B.weight") { module = String(t.name.dropLast(".lora_B.weight".count)); expectA = false }
            else { throw AdapterError.extraTensors(path: dir, names: [t.name]) }
            let rankAxis = expectA ? 0 : 1
            guard t.shape.count == 2, t.shape[rankAxis] == pc.r, t.shape[1 - rankAxis] > 0 else {
                throw AdapterError.wrongShape(path: dir, module: module, found: [t.shape], expected: [expectA ? [pc.r, -1] : [-1, pc.r]])
            }
            if !(try st.float32(t.name)).allSatisfy(\.isFinite) { throw AdapterError.nonFinite(path: dir, tensor: t.name) }
            modules.insert(module)
        }
        for m in modules.sorted() where st.info(m + ".lora_A.weight") == nil || st.info(m + ".lora_B.weight") == nil {
            throw AdapterError.missingTensors(path: dir, module: m)
        }
        guard !modules.isEmpty else { throw AdapterError.missingTensors(path: dir, module: "any module") }
        return (modules.count, pc.r)
    }

    /// Reads an adapter for a model of configuration `model`; every tensor must match a layer.
    public static func load(_ dir: String, model: ModelConfig) throws -> LoRAState {
        let pc = try config(dir)
        guard case .names(let targets) = pc.targetModules else { throw AdapterError.notAnAdapter(path: dir) }
        // fan_in_fan_out says how the base model stores its linear weights; it must match the architecture.
        guard pc.fanInFanOut == model.architecture.descriptor.conv1DWeights else {
            throw AdapterError.badConfig(path: dir + "/adapter_config.json", reason: "fan_in_fan_out is \(pc.fanInFanOut), but \(model.architecture) stores its weights \(model.architecture.descriptor.conv1DWeights ? "[in, out]" : "[out, in]"); is the adapter for another model?")
        }
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        let cfg = LoRAConfig(r: pc.r, alpha: pc.loraAlpha, dropout: pc.loraDropout.isFinite ? min(max(pc.loraDropout, 0), 0.99) : 0,
                             targetModules: targets, useRSLoRA: pc.useRSLoRA)
        var state: LoRAState
        do { state = try LoRAState(model: model, config: cfg, seed: 0) } catch {
            throw AdapterError.badConfig(path: dir + "/adapter_config.json", reason: error.description)
        }
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
            guard present.contains(m.peftKeyA), present.contains(m.peftKeyB) else { throw AdapterError.missingTensors(path: dir, module: m.path) }
            let shapeA = st.info(m.peftKeyA)?.shape ?? [], shapeB = st.info(m.peftKeyB)?.shape ?? []
            guard shapeA == [r, m.inFeatures], shapeB == [m.outFeatures, r] else {
                throw AdapterError.wrongShape(path: dir, module: m.path, found: [shapeA, shapeB], expected: [[r, m.inFeatures], [m.outFeatures, r]])
            }
            let a = try st.float32(m.peftKeyA), b = try st.float32(m.peftKeyB)
            if !a.allSatisfy(\.isFinite) { throw AdapterError.nonFinite(path: dir, tensor: m.peftKeyA) }
            if !b.allSatisfy(\.isFinite) { throw AdapterError.nonFinite(path: dir, tensor: m.peftKeyB) }
            state.values.replaceSubrange(m.offsetA..<(m.offsetA + a.count), with: a)
            state.values.replaceSubrange(m.offsetB..<(m.offsetB + b.count), with: b)
            used.insert(m.peftKeyA)
            used.insert(m.peftKeyB)
        }
        let extra = present.subtracting(used).sorted()
        guard extra.isEmpty else { throw AdapterError.extraTensors(path: dir, names: extra) }
    }
}
