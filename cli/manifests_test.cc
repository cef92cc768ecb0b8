#include "cli/manifests.h"

#include <gtest/gtest.h>

namespace runnel::cli {
namespace {

const Manifest* Find(const std::vector<Manifest>& ms, const std::string& kind) {
  for (const Manifest& m : ms) {
    if (m["kind"] == kind) return &m;
  }
  return nullptr;
}

const Manifest* Container(const Manifest& deployment, const std::string& name) {
  for (const Manifest& c : deployment["spec"]["template"]["spec"]["containers"]) {
    if (c["name"] == name) return &c;
  }
  return nullptr;
}

std::string Env(const Manifest& container, const std::string& name) {
  for (const Manifest& e : container["env"]) {
    if (e["name"] == name) return e["value"];
  }
  return "<unset>";
}

TEST(RenderGateway, FileStoreGetsAVolumeProbesAndScrapeAnnotations) {
  std::vector<Manifest> ms =
      RenderGateway({.name = "main", .store = "file"}, ManifestOptions{.name_space = "streams"});
  const Manifest* d = Find(ms, "Deployment");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ((*d)["metadata"]["name"], "main-gateway");
  EXPECT_EQ((*d)["metadata"]["namespace"], "streams");
  EXPECT_EQ((*d)["spec"]["strategy"]["type"], "Recreate");
  const Manifest* c = Container(*d, "gateway");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ((*c)["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ((*c)["ports"][0]["containerPort"], 6565);
  EXPECT_EQ((*d)["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"], "true");
  EXPECT_NE(Find(ms, "PersistentVolumeClaim"), nullptr);
  const Manifest* cm = Find(ms, "ConfigMap");
  ASSERT_NE(cm, nullptr);
  Manifest config = Manifest::parse(std::string((*cm)["data"]["gateway.json"]));
  EXPECT_EQ(config["store"], "file");
  EXPECT_EQ(config["file"]["data_dir"], "/var/lib/runnel");
  EXPECT_EQ(Find(ms, "Service")->at("spec")["ports"][1]["port"], 8080);
}

TEST(RenderGateway, KafkaStoreHasNoVolume) {
  std::vector<Manifest> ms = RenderGateway(
      {.name = "k", .store = "kafka", .bootstrap_servers = "kafka:9092"}, ManifestOptions{});
  EXPECT_EQ(Find(ms, "PersistentVolumeClaim"), nullptr);
  Manifest config = Manifest::parse(std::string(Find(ms, "ConfigMap")->at("data")["gateway.json"]));
  EXPECT_EQ(config["kafka"]["bootstrap_servers"], "kafka:9092");
}

TEST(RenderStream, RiffBindingConfigMapAndSecret) {
  std::vector<Manifest> ms = RenderStream(
      {.name = "numbers", .gateway = "main", .content_type = "text/plain"}, ManifestOptions{});
  const Manifest* cm = Find(ms, "ConfigMap");
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ((*cm)["metadata"]["name"], "numbers-stream-binding-metadata");
  EXPECT_EQ((*cm)["data"]["contentType"], "text/plain");
  const Manifest* secret = Find(ms, "Secret");
  EXPECT_EQ((*secret)["stringData"]["gateway"], "main-gateway:6565");
  EXPECT_EQ((*secret)["stringData"]["topic"], "numbers");
  EXPECT_NE(Find(ms, "Job"), nullptr);
}

ProcessorSpec Square() {
  ProcessorSpec p{.name = "sq", .image = "example/square:1", .window = "tumbling:1s",
                  .replicas = 2};
  p.inputs = {{.alias = "in", .stream = "numbers", .start_offset = "earliest"}};
  p.outputs = {{.alias = "squares", .stream = "squares"}};
  return p;
}

TEST(RenderProcessor, FunctionAndSidecarContainersWithRiffEnvAndBindings) {
  auto ms = RenderProcessor(Square(), {{"numbers", "main"}}, ManifestOptions{});
  ASSERT_TRUE(ms.ok()) << ms.status();
  const Manifest* d = Find(*ms, "Deployment");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ((*d)["spec"]["replicas"], 2);
  const Manifest* fn = Container(*d, "function");
  const Manifest* sidecar = Container(*d, "processor");
  ASSERT_NE(fn, nullptr);
  ASSERT_NE(sidecar, nullptr);
  EXPECT_EQ((*fn)["image"], "example/square:1");
  EXPECT_EQ((*fn)["ports"][0]["containerPort"], 8081);
  EXPECT_EQ(Env(*sidecar, "FUNCTION"), "localhost:8081");
  EXPECT_EQ(Env(*sidecar, "GROUP"), "sq");
  EXPECT_EQ(Env(*sidecar, "INPUT_NAMES"), "in");
  EXPECT_EQ(Env(*sidecar, "OUTPUT_NAMES"), "squares");
  EXPECT_EQ(Env(*sidecar, "INPUT_START_OFFSETS"), "earliest");
  EXPECT_EQ(Env(*sidecar, "CNB_BINDINGS"), "/var/riff/bindings");
  EXPECT_EQ((*sidecar)["args"], Manifest({"--http-port", "8090", "--window", "tumbling:1s"}));
  EXPECT_EQ((*sidecar)["volumeMounts"][0]["mountPath"], "/var/riff/bindings/input_000/metadata");
  EXPECT_EQ((*sidecar)["volumeMounts"][3]["mountPath"], "/var/riff/bindings/output_000/secret");
  EXPECT_EQ((*d)["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"],
            "numbers-stream-binding-secret");
}

TEST(RenderProcessor, KedaScaledObjectWithALiiklusTriggerPerInput) {
  auto ms = RenderProcessor(Square(), {{"numbers", "main"}}, ManifestOptions{});
  ASSERT_TRUE(ms.ok());
  const Manifest* so = Find(*ms, "ScaledObject");
  ASSERT_NE(so, nullptr);
  EXPECT_EQ((*so)["spec"]["scaleTargetRef"]["name"], "sq-processor");
  EXPECT_EQ((*so)["spec"]["minReplicaCount"], 2);
  ASSERT_EQ((*so)["spec"]["triggers"].size(), 1u);
  EXPECT_EQ((*so)["spec"]["triggers"][0]["type"], "liiklus");
  EXPECT_EQ((*so)["spec"]["triggers"][0]["metadata"]["address"], "main-gateway:6565");
  EXPECT_EQ((*so)["spec"]["triggers"][0]["metadata"]["group"], "sq");
  EXPECT_EQ((*so)["spec"]["triggers"][0]["metadata"]["topic"], "numbers");
}

TEST(RenderProcessor, HttpFunctionPathIsServedByTheFunctionContainerOnPort) {
  ProcessorSpec p = Square();
  p.function_url = "/invoke";
  auto ms = RenderProcessor(p, {{"numbers", "main"}}, ManifestOptions{});
  ASSERT_TRUE(ms.ok()) << ms.status();
  const Manifest* d = Find(*ms, "Deployment");
  const Manifest* fn = Container(*d, "function");
  const Manifest* sidecar = Container(*d, "processor");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(Env(*fn, "PORT"), "8080");
  EXPECT_EQ(Env(*fn, "HTTP_PORT"), "8080");
  EXPECT_EQ(Env(*fn, "GRPC_PORT"), "<unset>");
  EXPECT_EQ((*fn)["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(Env(*sidecar, "RUNNEL_FUNCTION_URL"), "http://localhost:8080/invoke");
  EXPECT_EQ(Env(*sidecar, "FUNCTION"), "<unset>");
}

TEST(RenderProcessor, ExternalHttpFunctionHasNoFunctionContainer) {
  ProcessorSpec p = Square();
  p.image.clear();
  p.function_url = "http://fn.default.svc:8080/";
  auto ms = RenderProcessor(p, {{"numbers", "main"}}, ManifestOptions{});
  ASSERT_TRUE(ms.ok()) << ms.status();
  const Manifest* d = Find(*ms, "Deployment");
  EXPECT_EQ(Container(*d, "function"), nullptr);
  EXPECT_EQ(Env(*Container(*d, "processor"), "RUNNEL_FUNCTION_URL"), "http://fn.default.svc:8080/");
}

TEST(RenderProcessor, NeedsAnImageAndKnownGateways) {
  ProcessorSpec p = Square();
  p.image.clear();
  EXPECT_EQ(RenderProcessor(p, {{"numbers", "main"}}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RenderProcessor(Square(), {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RenderProcessor, DeadLetterStreamIsPassedAsRunnelDeadLetterOnItsGateway) {
  ProcessorSpec p = Square();
  p.dead_letter = "squares-dlq";
  auto ms = RenderProcessor(p, {{"numbers", "main"}, {"squares-dlq", "main"}}, ManifestOptions{});
  ASSERT_TRUE(ms.ok()) << ms.status();
  const Manifest* sidecar = Container(*Find(*ms, "Deployment"), "processor");
  ASSERT_NE(sidecar, nullptr);
  EXPECT_EQ(Env(*sidecar, "RUNNEL_DEAD_LETTER"), "main-gateway:6565/squares-dlq");
  EXPECT_EQ(Env(*Container(*Find(*RenderProcessor(Square(), {{"numbers", "main"}}, {}),
                                 "Deployment"),
                           "processor"),
                "RUNNEL_DEAD_LETTER"),
            "<unset>");
  // Its gateway must be known, like the inputs'.
  EXPECT_EQ(RenderProcessor(p, {{"numbers", "main"}}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RenderProcessor, KeyTimeAndRetrySettingsAreSidecarArgs) {
  ProcessorSpec p = Square();
  p.key_by = ".licenseId";
  p.event_time = "/ts";
  p.max_out_of_orderness = "5s";
  p.allowed_lateness = "1m";
  p.idle_timeout = "0";
  p.late = "side-output:late-rides";
  p.max_attempts = 3;
  p.invoke_timeout = "30s";
  auto ms = RenderProcessor(p, {{"numbers", "main"}, {"late-rides", "main"}}, ManifestOptions{});
  ASSERT_TRUE(ms.ok()) << ms.status();
  const Manifest* sidecar = Container(*Find(*ms, "Deployment"), "processor");
  ASSERT_NE(sidecar, nullptr);
  EXPECT_EQ((*sidecar)["args"],
            Manifest({"--http-port", "8090", "--window", "tumbling:1s", "--key-by", ".licenseId",
                      "--event-time", "/ts", "--max-out-of-orderness", "5s",
                      "--allowed-lateness", "1m", "--idle-timeout", "0", "--late",
                      "side-output:main-gateway:6565/late-rides", "--max-attempts", "3",
                      "--invoke-timeout", "30s"}));
  // A re-keying --key-by groups within one replica: KEDA never scales it out.
  EXPECT_EQ((*Find(*ms, "ScaledObject"))["spec"]["maxReplicaCount"], 1);
  p.key_by = "key";
  auto published = RenderProcessor(p, {{"numbers", "main"}, {"late-rides", "main"}}, {});
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ((*Find(*published, "ScaledObject"))["spec"]["maxReplicaCount"], 30);
  p.key_by = ".licenseId";
  // The side-output stream's gateway must be known, like the dead-letter stream's.
  auto unknown = RenderProcessor(p, {{"numbers", "main"}}, {});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("late side-output stream \"late-rides\""),
            std::string::npos);
}

TEST(ToYaml, BlockStyleWithQuotedAmbiguousScalars) {
  Manifest m = {{"name", "a"},
                {"port", 8080},
                {"flag", "true"},
                {"empty", ""},
                {"list", {{{"k", "v"}, {"n", 1}}, "x"}},
                {"obj", Manifest::object()},
                {"text", "a: b"}};
  EXPECT_EQ(ToYaml(m),
            "name: a\n"
            "port: 8080\n"
            "flag: \"true\"\n"
            "empty: \"\"\n"
            "list:\n"
            "- k: v\n"
            "  n: 1\n"
            "- x\n"
            "obj: {}\n"
            "text: \"a: b\"\n");
}

TEST(FormatManifests, YamlDocumentsOrJsonList) {
  std::vector<Manifest> ms = {{{"kind", "A"}}, {{"kind", "B"}}};
  EXPECT_EQ(*FormatManifests(ms, "yaml"), "---\nkind: A\n---\nkind: B\n");
  Manifest list = Manifest::parse(*FormatManifests(ms, "json"));
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_FALSE(FormatManifests(ms, "xml").ok());
}

}  // namespace
}  // namespace runnel::cli
