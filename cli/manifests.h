#pragma once
// Kubernetes manifests for cluster mode (`create --dry-run -o yaml`). The shapes are riff's (see
// docs in charts/runnel/README.md) and the same as charts/runnel renders:
//
//   gateway g    ConfigMap g-gateway-config (gateway.json, proto/runnel/config/v1 as JSON),
//                PersistentVolumeClaim g-gateway-data (file store), Deployment g-gateway,
//                Service g-gateway (grpc 6565, http 8080)
//   stream s     ConfigMap s-stream-binding-metadata, Secret s-stream-binding-secret (riff's
//                binding: gateway, topic), Job s-stream-provision (creates it on the gateway)
//   processor p  Deployment p-processor (containers "function" and "processor", riff's env and
//                CNB_BINDINGS volumes), KEDA ScaledObject p-processor (liiklus trigger per input).
//                An HTTP function (function_url "/PATH") listens on PORT 8080 and the sidecar gets
//                RUNNEL_FUNCTION_URL instead of FUNCTION; an external one (function_url
//                "http://…") has no function container.
//
// Pure functions; thread-compatible.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cli/state.h"

namespace runnel::cli {

using Manifest = nlohmann::ordered_json;

inline constexpr int kClusterGatewayGrpcPort = 6565;
inline constexpr int kClusterGatewayHttpPort = 8080;
inline constexpr int kClusterFunctionPort = 8081;      // riff-rpc (GRPC_PORT)
inline constexpr int kClusterFunctionHttpPort = 8080;  // HTTP functions (PORT, --function-url)
inline constexpr int kClusterProcessorHttpPort = 8090;

struct ManifestOptions {
  std::string name_space = "default";
  std::string gateway_image = "ghcr.io/runnel/runnel-gateway:0.1.0";
  std::string processor_image = "ghcr.io/runnel/runnel-processor:0.1.0";
  std::string provisioner_image = "curlimages/curl:8.11.1";
  std::string storage_size = "1Gi";
};

// The in-cluster gRPC address of gateway `g`: "g-gateway:6565".
std::string ClusterGatewayAddress(absl::string_view gateway);

std::vector<Manifest> RenderGateway(const GatewaySpec& gateway, const ManifestOptions& options);
std::vector<Manifest> RenderStream(const StreamSpec& stream, const ManifestOptions& options);
// `gateway_of_stream` maps each input stream to its gateway (for the KEDA triggers).
// Errors: kInvalidArgument when the processor has no image, function address or external function
// URL, or an input's gateway is unknown.
absl::StatusOr<std::vector<Manifest>> RenderProcessor(
    const ProcessorSpec& processor, const std::map<std::string, std::string>& gateway_of_stream,
    const ManifestOptions& options);

// "yaml": documents separated by "---"; "json": a List (kubectl's shape). Errors: kInvalidArgument
// for another format.
absl::StatusOr<std::string> FormatManifests(const std::vector<Manifest>& manifests,
                                            absl::string_view format);

// Block-style YAML for one JSON value (strings double-quoted unless plainly safe).
std::string ToYaml(const Manifest& value);

}  // namespace runnel::cli
