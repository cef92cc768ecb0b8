#include "cli/manifests.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/processor_settings.h"

namespace runnel::cli {
namespace {

Manifest Metadata(const std::string& name, const ManifestOptions& options, Manifest labels) {
  return {{"name", name}, {"namespace", options.name_space}, {"labels", std::move(labels)}};
}

Manifest HttpProbe(const std::string& path, const std::string& port, int period) {
  return {{"httpGet", {{"path", path}, {"port", port}}}, {"periodSeconds", period}};
}

bool PlainScalar(const std::string& s) {
  if (s.empty()) return false;
  static const char* const kReserved[] = {"true", "false", "yes", "no", "on", "off", "null", "~"};
  std::string lower = absl::AsciiStrToLower(s);
  for (const char* r : kReserved) {
    if (lower == r) return false;
  }
  if (!absl::ascii_isalpha(s[0]) && s[0] != '/') return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  }
  return true;
}

std::string Scalar(const Manifest& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return PlainScalar(s) ? s : Manifest(s).dump();
  }
  return v.dump();  // numbers, booleans, null: the JSON spelling is the YAML spelling
}

bool IsEmptyCollection(const Manifest& v) { return (v.is_object() || v.is_array()) && v.empty(); }

void Emit(const Manifest& v, int indent, std::string& out);

// Writes the value of a "key:" or "- " whose text is already in `out`.
void EmitAfterKey(const Manifest& v, int indent, std::string& out) {
  if (IsEmptyCollection(v)) {
    absl::StrAppend(&out, v.is_object() ? " {}\n" : " []\n");
  } else if (v.is_object() || v.is_array()) {
    out += "\n";
    Emit(v, indent, out);
  } else {
    absl::StrAppend(&out, " ", Scalar(v), "\n");
  }
}

void Emit(const Manifest& v, int indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      absl::StrAppend(&out, pad, PlainScalar(key) ? key : Manifest(key).dump(), ":");
      // Sequences under a key sit at the key's indentation (kubectl's style).
      EmitAfterKey(value, value.is_array() ? indent : indent + 2, out);
    }
  } else if (v.is_array()) {
    for (const Manifest& item : v) {
      if (item.is_object() && !item.empty()) {
        // The first key goes on the "- " line; the rest line up under it.
        std::string nested;
        Emit(item, indent + 2, nested);
        absl::StrAppend(&out, pad, "- ", nested.substr(indent + 2));
      } else {
        absl::StrAppend(&out, pad, "-");
        EmitAfterKey(item, indent + 2, out);
      }
    }
  } else {
    absl::StrAppend(&out, pad, Scalar(v), "\n");
  }
}

}  // namespace

std::string ToYaml(const Manifest& value) {
  std::string out;
  Emit(value, 0, out);
  return out;
}

std::string ClusterGatewayAddress(absl::string_view gateway) {
  return absl::StrCat(gateway, "-gateway:", kClusterGatewayGrpcPort);
}

std::vector<Manifest> RenderGateway(const GatewaySpec& gateway, const ManifestOptions& options) {
  const std::string name = absl::StrCat(gateway.name, "-gateway");
  Manifest labels = {{"app.kubernetes.io/name", "runnel-gateway"},
                     {"app.kubernetes.io/instance", gateway.name},
                     {"runnel.dev/gateway", gateway.name},
                     {"runnel.dev/gateway-type", gateway.store}};
  Manifest selector = {{"runnel.dev/gateway", gateway.name}};

  Manifest config = {{"grpc_address", absl::StrCat("0.0.0.0:", kClusterGatewayGrpcPort)},
                     {"http_address", absl::StrCat("0.0.0.0:", kClusterGatewayHttpPort)},
                     {"advertised_address", ClusterGatewayAddress(gateway.name)},
                     {"store", gateway.store}};
  if (gateway.store == "file") config["file"] = {{"data_dir", "/var/lib/runnel"}};
  if (gateway.store == "kafka") {
    config["kafka"] = {{"bootstrap_servers", gateway.bootstrap_servers}};
  }

  std::vector<Manifest> out;
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", Metadata(name + "-config", options, labels)},
                 {"data", {{"gateway.json", config.dump(2)}}}});
  Manifest volumes = {{{"name", "config"}, {"configMap", {{"name", name + "-config"}}}}};
  Manifest mounts = {{{"name", "config"}, {"mountPath", "/etc/runnel"}, {"readOnly", true}}};
  if (gateway.store == "file") {
    out.push_back({{"apiVersion", "v1"},
                   {"kind", "PersistentVolumeClaim"},
                   {"metadata", Metadata(name + "-data", options, labels)},
                   {"spec",
                    {{"accessModes", {"ReadWriteOnce"}},
                     {"resources", {{"requests", {{"storage", options.storage_size}}}}}}}});
    volumes.push_back(
        {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", name + "-data"}}}});
    mounts.push_back({{"name", "data"}, {"mountPath", "/var/lib/runnel"}});
  }
  Manifest container = {
      {"name", "gateway"},
      {"image", options.gateway_image},
      {"args", {"--config", "/etc/runnel/gateway.json"}},
      {"ports",
       {{{"name", "grpc"}, {"containerPort", kClusterGatewayGrpcPort}},
        {{"name", "http"}, {"containerPort", kClusterGatewayHttpPort}}}},
      {"readinessProbe", HttpProbe("/readyz", "http", 5)},
      {"livenessProbe", HttpProbe("/healthz", "http", 10)},
      {"volumeMounts", mounts}};
  out.push_back(
      {{"apiVersion", "apps/v1"},
       {"kind", "Deployment"},
       {"metadata", Metadata(name, options, labels)},
       {"spec",
        {{"replicas", 1},
         // One writer per file log: never run the old and new pod side by side.
         {"strategy", {{"type", gateway.store == "file" ? "Recreate" : "RollingUpdate"}}},
         {"selector", {{"matchLabels", selector}}},
         {"template",
          {{"metadata",
            {{"labels", labels},
             {"annotations",
              {{"prometheus.io/scrape", "true"},
               {"prometheus.io/port", std::to_string(kClusterGatewayHttpPort)},
               {"prometheus.io/path", "/metrics"}}}}},
           {"spec", {{"containers", {container}}, {"volumes", volumes}}}}}}}});
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "Service"},
                 {"metadata", Metadata(name, options, labels)},
                 {"spec",
                  {{"selector", selector},
                   {"ports",
                    {{{"name", "grpc"},
                      {"port", kClusterGatewayGrpcPort},
                      {"targetPort", "grpc"}},
                     {{"name", "http"},
                      {"port", kClusterGatewayHttpPort},
                      {"targetPort", "http"}}}}}}});
  return out;
}

std::vector<Manifest> RenderStream(const StreamSpec& stream, const ManifestOptions& options) {
  Manifest labels = {{"runnel.dev/stream", stream.name}, {"runnel.dev/gateway", stream.gateway}};
  const std::string body = Manifest({{"name", stream.name},
                                     {"partitions", stream.partitions},
                                     {"content_type", stream.content_type}})
                               .dump();
  // 201 created, 409 already there (a re-applied manifest); anything else retries the Job.
  const std::string script = absl::StrCat(
      "code=$(curl -sS -o /dev/stderr -w '%{http_code}' -X POST -H 'Content-Type: "
      "application/json' -d '",
      body, "' http://", stream.gateway, "-gateway:", kClusterGatewayHttpPort,
      "/streams) && { [ \"$code\" = 201 ] || [ \"$code\" = 409 ]; }");
  return {
      {{"apiVersion", "v1"},
       {"kind", "ConfigMap"},
       {"metadata", Metadata(stream.name + "-stream-binding-metadata", options, labels)},
       {"data",
        {{"kind", "Stream.runnel.dev"},
         {"provider", "Runnel"},
         {"tags", ""},
         {"stream", stream.name},
         {"contentType", stream.content_type}}}},
      {{"apiVersion", "v1"},
       {"kind", "Secret"},
       {"metadata", Metadata(stream.name + "-stream-binding-secret", options, labels)},
       {"type", "Opaque"},
       {"stringData", {{"gateway", ClusterGatewayAddress(stream.gateway)}, {"topic", stream.name}}}},
      {{"apiVersion", "batch/v1"},
       {"kind", "Job"},
       {"metadata", Metadata(stream.name + "-stream-provision", options, labels)},
       {"spec",
        {{"backoffLimit", 10},
         {"template",
          {{"metadata", {{"labels", labels}}},
           {"spec",
            {{"restartPolicy", "OnFailure"},
             {"containers",
              {{{"name", "provision"},
                {"image", options.provisioner_image},
                {"command", {"sh", "-c", script}}}}}}}}}}}}};
}

absl::StatusOr<std::vector<Manifest>> RenderProcessor(
    const ProcessorSpec& processor, const std::map<std::string, std::string>& gateway_of_stream,
    const ManifestOptions& options) {
  const bool external_url = absl::StartsWith(processor.function_url, "http");
  if (processor.image.empty() && processor.function_address.empty() && !external_url) {
    return absl::InvalidArgumentError(absl::StrCat(
        "processor \"", processor.name,
        "\": cluster mode runs the function from an image; add --image IMAGE (or "
        "--function-address HOST:PORT / --function-url http://HOST:PORT/PATH for a function "
        "running elsewhere)"));
  }
  const std::string name = absl::StrCat(processor.name, "-processor");
  Manifest labels = {{"app.kubernetes.io/name", "runnel-processor"},
                     {"app.kubernetes.io/instance", processor.name},
                     {"runnel.dev/processor", processor.name}};
  Manifest selector = {{"runnel.dev/processor", processor.name}};

  std::vector<std::string> input_names, output_names, offsets;
  Manifest volumes = Manifest::array();
  Manifest mounts = Manifest::array();
  auto bind = [&](const std::string& prefix, size_t i, const std::string& stream) {
    char index[24];
    std::snprintf(index, sizeof index, "%03zu", i);
    const std::string volume = absl::StrCat(prefix, "-", index);
    volumes.push_back({{"name", volume + "-metadata"},
                       {"configMap", {{"name", stream + "-stream-binding-metadata"}}}});
    volumes.push_back({{"name", volume + "-secret"},
                       {"secret", {{"secretName", stream + "-stream-binding-secret"}}}});
    const std::string dir = absl::StrCat("/var/riff/bindings/", prefix, "_", index);
    mounts.push_back(
        {{"name", volume + "-metadata"}, {"mountPath", dir + "/metadata"}, {"readOnly", true}});
    mounts.push_back(
        {{"name", volume + "-secret"}, {"mountPath", dir + "/secret"}, {"readOnly", true}});
  };
  Manifest triggers = Manifest::array();
  for (size_t i = 0; i < processor.inputs.size(); ++i) {
    const InputRef& in = processor.inputs[i];
    input_names.push_back(in.alias);
    offsets.push_back(in.start_offset);
    bind("input", i, in.stream);
    auto gw = gateway_of_stream.find(in.stream);
    if (gw == gateway_of_stream.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input stream \"", in.stream,
                       "\" has no known gateway; create the stream first or pass --gateway G"));
    }
    triggers.push_back({{"type", "liiklus"},
                        {"metadata",
                         {{"address", ClusterGatewayAddress(gw->second)},
                          {"group", processor.name},
                          {"topic", in.stream},
                          {"lagThreshold", "10"}}}});
  }
  for (size_t i = 0; i < processor.outputs.size(); ++i) {
    output_names.push_back(processor.outputs[i].alias);
    bind("output", i, processor.outputs[i].stream);
  }

  std::string dead_letter;
  if (!processor.dead_letter.empty()) {
    auto gw = gateway_of_stream.find(processor.dead_letter);
    if (gw == gateway_of_stream.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dead-letter stream \"", processor.dead_letter,
          "\" has no known gateway; create the stream first or pass --gateway G"));
    }
    dead_letter = absl::StrCat(ClusterGatewayAddress(gw->second), "/", processor.dead_letter);
  }

  std::string late_address;
  if (const std::string late = LateSideOutputStream(processor); !late.empty()) {
    auto gw = gateway_of_stream.find(late);
    if (gw == gateway_of_stream.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("late side-output stream \"", late,
                       "\" has no known gateway; create the stream first or pass --gateway G"));
    }
    late_address = absl::StrCat(ClusterGatewayAddress(gw->second), "/", late);
  }

  const std::string function_address =
      processor.function_address.empty() ? absl::StrCat("localhost:", kClusterFunctionPort)
                                         : processor.function_address;
  Manifest processor_args = {"--http-port", std::to_string(kClusterProcessorHttpPort)};
  for (const std::string& arg : ProcessorSettingArgs(processor, late_address)) {
    processor_args.push_back(arg);
  }
  // An HTTP function: a path is served by the function container on kClusterFunctionHttpPort.
  const bool http_function = !processor.function_url.empty();
  const std::string function_url =
      external_url ? processor.function_url
                   : absl::StrCat("http://localhost:", kClusterFunctionHttpPort,
                                  processor.function_url);
  Manifest function_env =
      http_function ? Manifest{{"name", "RUNNEL_FUNCTION_URL"}, {"value", function_url}}
                    : Manifest{{"name", "FUNCTION"}, {"value", function_address}};
  Manifest sidecar = {
      {"name", "processor"},
      {"image", options.processor_image},
      {"args", processor_args},
      {"env",
       {function_env,
        {{"name", "GROUP"}, {"value", processor.name}},
        {{"name", "INPUT_NAMES"}, {"value", absl::StrJoin(input_names, ",")}},
        {{"name", "OUTPUT_NAMES"}, {"value", absl::StrJoin(output_names, ",")}},
        {{"name", "INPUT_START_OFFSETS"}, {"value", absl::StrJoin(offsets, ",")}},
        {{"name", "CNB_BINDINGS"}, {"value", "/var/riff/bindings"}}}},
      {"ports", {{{"name", "http"}, {"containerPort", kClusterProcessorHttpPort}}}},
      {"readinessProbe", HttpProbe("/readyz", "http", 5)},
      {"livenessProbe", HttpProbe("/healthz", "http", 10)},
      {"volumeMounts", mounts}};
  if (!dead_letter.empty()) {
    sidecar["env"].push_back({{"name", "RUNNEL_DEAD_LETTER"}, {"value", dead_letter}});
  }
  Manifest containers = Manifest::array();
  if (processor.function_address.empty() && !external_url) {
    const int port = http_function ? kClusterFunctionHttpPort : kClusterFunctionPort;
    Manifest env = Manifest::array();
    if (http_function) {
      env.push_back({{"name", "PORT"}, {"value", std::to_string(port)}});
      env.push_back({{"name", "HTTP_PORT"}, {"value", std::to_string(port)}});
    } else {
      env.push_back({{"name", "GRPC_PORT"}, {"value", std::to_string(port)}});
    }
    for (const auto& [k, v] : processor.env) env.push_back({{"name", k}, {"value", v}});
    containers.push_back({{"name", "function"},
                          {"image", processor.image},
                          {"env", env},
                          {"ports", {{{"name", "function"}, {"containerPort", port}}}},
                          {"readinessProbe", {{"tcpSocket", {{"port", "function"}}},
                                              {"periodSeconds", 5}}}});
  }
  containers.push_back(sidecar);

  std::vector<Manifest> out;
  out.push_back(
      {{"apiVersion", "apps/v1"},
       {"kind", "Deployment"},
       {"metadata", Metadata(name, options, labels)},
       {"spec",
        {{"replicas", processor.replicas},
         {"selector", {{"matchLabels", selector}}},
         {"template",
          {{"metadata",
            {{"labels", labels},
             {"annotations",
              {{"prometheus.io/scrape", "true"},
               {"prometheus.io/port", std::to_string(kClusterProcessorHttpPort)},
               {"prometheus.io/path", "/metrics"}}}}},
           {"spec", {{"containers", containers}, {"volumes", volumes}}}}}}}});
  out.push_back({{"apiVersion", "keda.sh/v1alpha1"},
                 {"kind", "ScaledObject"},
                 {"metadata", Metadata(name, options, labels)},
                 {"spec",
                  {{"scaleTargetRef", {{"name", name}}},
                   {"pollingInterval", 1},
                   {"cooldownPeriod", 30},
                   // riff disabled scale-to-zero (system PR #235): a stopped processor sees no lag.
                   {"minReplicaCount", std::max(1, processor.replicas)},
                   // A re-keying --key-by groups within one replica: never scaled out.
                   {"maxReplicaCount", !processor.key_by.empty() && processor.key_by != "key"
                                           ? 1
                                           : std::max(30, processor.replicas)},
                   {"triggers", triggers}}}});
  return out;
}

absl::StatusOr<std::string> FormatManifests(const std::vector<Manifest>& manifests,
                                            absl::string_view format) {
  if (format == "yaml") {
    std::string out;
    for (const Manifest& m : manifests) absl::StrAppend(&out, "---\n", ToYaml(m));
    return out;
  }
  if (format == "json") {
    Manifest list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", manifests}};
    return list.dump(2) + "\n";
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown output format \"", format, "\": use -o yaml or -o json"));
}

}  // namespace runnel::cli
