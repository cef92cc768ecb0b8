#!/usr/bin/env python3
"""Checks charts/runnel without a cluster.

helm lint and helm template with several value sets; every rendered document is parsed and the
fields that matter are checked (images, ports, env, probes, bindings, KEDA triggers); and the
Deployment/ScaledObject shapes are compared with what `runnel ... --dry-run -o json` renders for
the same resources, so that the CLI's cluster mode and the chart cannot drift apart.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

import yaml

ARGS = None


def run(cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def helm():
    return run(["bash", ARGS.helm_script]).stdout.strip()


def render(values_files=(), sets=()):
    cmd = [helm(), "template", "rel", ARGS.chart, "--namespace", "streams"]
    for f in values_files:
        cmd += ["-f", f]
    for s in sets:
        cmd += ["--set", s]
    docs = [d for d in yaml.safe_load_all(run(cmd).stdout) if d]
    return docs


def find(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name} in {[ (d['kind'], d['metadata']['name']) for d in docs]}")


def container(deployment, name):
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name}")


def env(c):
    return {e["name"]: e["value"] for e in c.get("env", [])}


def ci_values():
    return os.path.join(ARGS.chart, "ci-values.yaml")


def normalise(spec):
    """Drops what only the chart adds (pull policy, checksums) so shapes compare equal."""
    spec = json.loads(json.dumps(spec))
    for c in spec.get("containers", []):
        c.pop("imagePullPolicy", None)
    return spec


class Chart(unittest.TestCase):
    def test_lint_passes_with_defaults_and_ci_values(self):
        run([helm(), "lint", "--strict", ARGS.chart])
        run([helm(), "lint", "--strict", ARGS.chart, "-f", ci_values()])

    def test_every_document_is_a_named_namespaced_object(self):
        for d in render([ci_values()]):
            self.assertIn("apiVersion", d)
            self.assertIn("kind", d)
            self.assertTrue(d["metadata"]["name"])
            self.assertEqual(d["metadata"]["namespace"], "streams")

    def test_gateway_file_store(self):
        docs = render([ci_values()])
        d = find(docs, "Deployment", "main-gateway")
        self.assertEqual(d["spec"]["strategy"]["type"], "Recreate")
        c = container(d, "gateway")
        self.assertEqual(c["image"], "ghcr.io/runnel/runnel-gateway:0.1.0")
        self.assertEqual({p["name"]: p["containerPort"] for p in c["ports"]}, {"grpc": 6565, "http": 8080})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"})
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http"})
        self.assertEqual(c["args"], ["--config", "/etc/runnel/gateway.json"])
        ann = d["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(ann["prometheus.io/port"], "8080")
        self.assertEqual(ann["prometheus.io/path"], "/metrics")
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(vols["data"]["persistentVolumeClaim"]["claimName"], "main-gateway-data")
        find(docs, "PersistentVolumeClaim", "main-gateway-data")
        config = json.loads(find(docs, "ConfigMap", "main-gateway-config")["data"]["gateway.json"])
        self.assertEqual(config["store"], "file")
        self.assertEqual(config["file"]["data_dir"], "/var/lib/runnel")
        self.assertEqual(config["grpc_address"], "0.0.0.0:6565")
        svc = find(docs, "Service", "main-gateway")
        self.assertEqual([p["port"] for p in svc["spec"]["ports"]], [6565, 8080])

    def test_gateway_kafka_store(self):
        docs = render(sets=["gateway.store=kafka", "gateway.kafka.bootstrapServers=kafka:9092"])
        kinds = [d["kind"] for d in docs]
        self.assertNotIn("PersistentVolumeClaim", kinds)
        config = json.loads(find(docs, "ConfigMap", "main-gateway-config")["data"]["gateway.json"])
        self.assertEqual(config["kafka"]["bootstrap_servers"], "kafka:9092")
        p = subprocess.run([helm(), "template", "rel", ARGS.chart, "--set", "gateway.store=kafka"],
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("needs gateway.kafka.bootstrapServers", p.stderr)

    def test_gateway_config_is_accepted_by_the_gateways_schema(self):
        # Field names are proto/runnel/config/v1/gateway.proto's; an unknown one would make the
        # gateway refuse to start (JsonStringToMessage rejects unknown fields).
        path = os.path.join(os.path.dirname(os.path.abspath(ARGS.chart)), "..", "proto", "runnel",
                            "config", "v1", "gateway.proto")
        with open(path) as f:
            proto = f.read()
        config = json.loads(find(render([ci_values()]), "ConfigMap", "main-gateway-config")["data"]["gateway.json"])
        for key, value in config.items():
            self.assertIn(f" {key} = ", proto)
            if isinstance(value, dict):
                for sub in value:
                    self.assertIn(f" {sub} = ", proto)

    def test_stream_bindings(self):
        docs = render([ci_values()])
        cm = find(docs, "ConfigMap", "numbers-stream-binding-metadata")
        self.assertEqual(cm["data"]["contentType"], "application/json")
        self.assertEqual(cm["data"]["stream"], "numbers")
        secret = find(docs, "Secret", "numbers-stream-binding-secret")
        self.assertEqual(secret["stringData"], {"gateway": "main-gateway:6565", "topic": "numbers"})
        job = find(docs, "Job", "numbers-stream-provision")
        script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
        self.assertIn('"partitions":2', script)
        self.assertIn("http://main-gateway:8080/streams", script)

    def test_processor_deployment(self):
        docs = render([ci_values()])
        d = find(docs, "Deployment", "square-processor")
        self.assertEqual(d["spec"]["replicas"], 2)
        fn = container(d, "function")
        self.assertEqual(fn["image"], "example/square:1")
        self.assertEqual(fn["ports"], [{"name": "function", "containerPort": 8081}])
        self.assertEqual(env(fn), {"GRPC_PORT": "8081", "LOG_LEVEL": "debug"})
        sc = container(d, "processor")
        self.assertEqual(sc["image"], "ghcr.io/runnel/runnel-processor:0.1.0")
        self.assertEqual(env(sc), {"FUNCTION": "localhost:8081", "GROUP": "square", "INPUT_NAMES": "in",
                                   "OUTPUT_NAMES": "squares", "INPUT_START_OFFSETS": "earliest",
                                   "CNB_BINDINGS": "/var/riff/bindings"})
        self.assertEqual(sc["args"], ["--http-port", "8090", "--window", "tumbling:1s"])
        self.assertEqual(sc["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"})
        # Every binding volume points at a ConfigMap or Secret the chart renders.
        names = {(x["kind"], x["metadata"]["name"]) for x in docs}
        for v in d["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in v:
                self.assertIn(("ConfigMap", v["configMap"]["name"]), names)
            if "secret" in v:
                self.assertIn(("Secret", v["secret"]["secretName"]), names)
        mounts = [m["mountPath"] for m in sc["volumeMounts"]]
        self.assertEqual(mounts, ["/var/riff/bindings/input_000/metadata", "/var/riff/bindings/input_000/secret",
                                  "/var/riff/bindings/output_000/metadata", "/var/riff/bindings/output_000/secret"])

    def test_dead_letter_stream_is_passed_to_the_sidecar(self):
        d = find(render([ci_values()]), "Deployment", "square-processor")
        self.assertNotIn("RUNNEL_DEAD_LETTER", env(container(d, "processor")))
        d = find(render([ci_values()], ["processors[0].deadLetter=squares-dlq"]), "Deployment",
                 "square-processor")
        self.assertRegex(env(container(d, "processor"))["RUNNEL_DEAD_LETTER"],
                         r"^[a-z0-9-]+-gateway:\d+/squares-dlq$")

    def test_keys_event_time_and_retries_are_sidecar_args(self):
        sc = container(find(render([ci_values()]), "Deployment", "work-time-processor"), "processor")
        self.assertEqual(sc["args"], [
            "--http-port", "8090", "--window", "tumbling:1m", "--key-by", ".licenseId",
            "--event-time", "/dropoffTime", "--max-out-of-orderness", "5s", "--allowed-lateness", "1m",
            "--idle-timeout", "0", "--late", "side-output:main-gateway:6565/late-rides",
            "--max-attempts", "3", "--invoke-timeout", "30s"])
        # maxAttempts 0 (retry forever) is a value, not "unset".
        d = find(render([ci_values()], ["processors[0].maxAttempts=0", "processors[0].late=refire",
                                        "processors[0].eventTime=cloudevent"]),
                 "Deployment", "square-processor")
        self.assertEqual(container(d, "processor")["args"][4:], [
            "--event-time", "cloudevent", "--late", "refire", "--max-attempts", "0"])

    def test_late_and_watermark_mistakes_fail_the_render(self):
        base = ["processors[0].name=p", "processors[0].image=x:1", "processors[0].inputs[0].stream=s"]
        for sets, message in [
            (["processors[0].eventTime=broker", "processors[0].late=keep"], "is not drop, refire or side-output:STREAM"),
            (["processors[0].eventTime=broker", "processors[0].late=side-output:"], "is not drop, refire"),
            (["processors[0].allowedLateness=1m"], "apply to event time only"),
            (["processors[0].eventTime=arrival", "processors[0].idleTimeout=0"], "apply to event time only"),
        ]:
            cmd = [helm(), "template", "rel", ARGS.chart]
            for x in base + sets:
                cmd += ["--set", x]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            self.assertNotEqual(p.returncode, 0, sets)
            self.assertIn(message, p.stderr)

    def test_http_function_served_by_its_image(self):
        d = find(render([ci_values()]), "Deployment", "shout-processor")
        fn = container(d, "function")
        self.assertEqual(fn["image"], "example/upper-http:1")
        self.assertEqual(env(fn), {"PORT": "8080", "HTTP_PORT": "8080"})
        self.assertEqual(fn["ports"], [{"name": "function", "containerPort": 8080}])
        sc = env(container(d, "processor"))
        self.assertEqual(sc["RUNNEL_FUNCTION_URL"], "http://localhost:8080/invoke")
        self.assertNotIn("FUNCTION", sc)

    def test_http_function_running_elsewhere_has_no_function_container(self):
        d = find(render([ci_values()]), "Deployment", "relay-processor")
        self.assertEqual([c["name"] for c in d["spec"]["template"]["spec"]["containers"]], ["processor"])
        self.assertEqual(env(container(d, "processor"))["RUNNEL_FUNCTION_URL"], "http://fn.example.svc:8080/")

    def test_function_url_mistakes_fail_the_render(self):
        for sets, message in [
            (["processors[0].name=p", "processors[0].image=x:1", "processors[0].functionUrl=http://h:1/",
              "processors[0].inputs[0].stream=s"], "names a function already running"),
            (["processors[0].name=p", "processors[0].functionUrl=/x", "processors[0].inputs[0].stream=s"],
             "needs an image"),
            (["processors[0].name=p", "processors[0].image=x:1", "processors[0].functionUrl=invoke",
              "processors[0].inputs[0].stream=s"], "is neither"),
        ]:
            cmd = [helm(), "template", "rel", ARGS.chart]
            for x in sets:
                cmd += ["--set", x]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            self.assertNotEqual(p.returncode, 0, sets)
            self.assertIn(message, p.stderr)

    def test_keda_scaled_object(self):
        so = find(render([ci_values()]), "ScaledObject", "square-processor")
        self.assertEqual(so["apiVersion"], "keda.sh/v1alpha1")
        self.assertEqual(so["spec"]["scaleTargetRef"], {"name": "square-processor"})
        self.assertEqual(so["spec"]["minReplicaCount"], 2)
        self.assertEqual(so["spec"]["triggers"], [{"type": "liiklus", "metadata": {
            "address": "main-gateway:6565", "group": "square", "topic": "numbers", "lagThreshold": "10"}}])
        kinds = [d["kind"] for d in render([ci_values()], sets=["keda.enabled=false"])]
        self.assertNotIn("ScaledObject", kinds)

    def cli(self, *args):
        p = run([ARGS.runnel, *args, "--dry-run", "-o", "json", "-n", "streams"])
        return json.loads(p.stdout)["items"]

    def test_cli_dry_run_renders_the_charts_shapes(self):
        home = tempfile.mkdtemp()
        os.environ["RUNNEL_HOME"] = home  # nothing is stored by --dry-run; keep it away from ~
        chart = render([ci_values()])
        cli_gateway = self.cli("gateway", "create", "main")
        for kind, name in [("Deployment", "main-gateway"), ("Service", "main-gateway")]:
            want = find(chart, kind, name)["spec"]
            got = find(cli_gateway, kind, name)["spec"]
            if kind == "Deployment":
                self.assertEqual(normalise(got["template"]["spec"]), normalise(want["template"]["spec"]))
                self.assertEqual(got["strategy"], want["strategy"])
            else:
                self.assertEqual(got, want)
        cli_stream = self.cli("stream", "create", "numbers", "--gateway", "main",
                              "--content-type", "application/json", "--partitions", "2")
        self.assertEqual(find(cli_stream, "ConfigMap", "numbers-stream-binding-metadata")["data"],
                         find(chart, "ConfigMap", "numbers-stream-binding-metadata")["data"])
        self.assertEqual(find(cli_stream, "Secret", "numbers-stream-binding-secret")["stringData"],
                         find(chart, "Secret", "numbers-stream-binding-secret")["stringData"])
        cli_processor = self.cli("processor", "create", "square", "--image", "example/square:1",
                                 "--input", "in:numbers@earliest", "--output", "squares",
                                 "--window", "tumbling:1s", "--replicas", "2", "--env", "LOG_LEVEL=debug",
                                 "--gateway", "main")
        want = find(chart, "Deployment", "square-processor")["spec"]["template"]["spec"]
        got = find(cli_processor, "Deployment", "square-processor")["spec"]["template"]["spec"]
        self.assertEqual(normalise(got), normalise(want))
        self.assertEqual(find(cli_processor, "ScaledObject", "square-processor")["spec"],
                         find(chart, "ScaledObject", "square-processor")["spec"])
        for name, flags in [("shout", ["--image", "example/upper-http:1", "--function-url", "/invoke",
                                       "--input", "words", "--output", "upper"]),
                            ("relay", ["--function-url", "http://fn.example.svc:8080/", "--input", "upper"])]:
            got = find(self.cli("processor", "create", name, *flags, "--gateway", "main"),
                       "Deployment", f"{name}-processor")["spec"]["template"]["spec"]
            want = find(chart, "Deployment", f"{name}-processor")["spec"]["template"]["spec"]
            self.assertEqual(normalise(got), normalise(want), name)
        got = find(self.cli("processor", "create", "work-time", "--image", "example/work-time:1",
                            "--input", "rides@earliest", "--output", "work-time", "--window", "tumbling:1m",
                            "--key-by", ".licenseId", "--event-time", "/dropoffTime",
                            "--max-out-of-orderness", "5s", "--allowed-lateness", "1m", "--idle-timeout", "0",
                            "--late", "side-output:late-rides", "--max-attempts", "3",
                            "--invoke-timeout", "30s", "--gateway", "main"),
                   "Deployment", "work-time-processor")["spec"]["template"]["spec"]
        want = find(chart, "Deployment", "work-time-processor")["spec"]["template"]["spec"]
        self.assertEqual(normalise(got), normalise(want))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", required=True)
    parser.add_argument("--helm-script", required=True)
    parser.add_argument("--runnel", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
