#include "gateway/config.h"

#include <fstream>
#include <functional>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "runnel/config/v1/gateway.pb.h"

namespace runnel::gateway {
namespace {

using Setter = std::function<absl::Status(GatewayCommandLine&, const std::string&)>;

struct Setting {
  const char* flag;  // Without the leading "--".
  const char* env;
  const char* value_name;  // Empty for a boolean switch.
  const char* help;
  Setter set;
};

absl::Status ParsePort(const std::string& v, int* out) {
  int port;
  if (!absl::SimpleAtoi(v, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not a port number (0-65535)"));
  }
  *out = port;
  return absl::OkStatus();
}

template <typename T>
absl::Status ParseUnsigned(const std::string& v, T* out) {
  uint64_t n;
  if (!absl::SimpleAtoi(v, &n)) {
    return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not a non-negative integer"));
  }
  *out = static_cast<T>(n);
  return absl::OkStatus();
}

// A non-negative count that fits an int.
absl::Status ParseCount(const std::string& v, int* out) {
  int n;
  if (!absl::SimpleAtoi(v, &n) || n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", v, "' is not a count (a non-negative integer below 2^31)"));
  }
  *out = n;
  return absl::OkStatus();
}

absl::Status ParseBool(const std::string& v, bool* out) {
  if (v.empty() || v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not true or false"));
  }
  return absl::OkStatus();
}

absl::Status ParseStore(const std::string& v, RecordStoreOptions::Kind* out) {
  if (v == "file") {
    *out = RecordStoreOptions::Kind::kFile;
  } else if (v == "memory") {
    *out = RecordStoreOptions::Kind::kMemory;
  } else if (v == "kafka") {
    *out = RecordStoreOptions::Kind::kKafka;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not a store (file, memory, kafka)"));
  }
  return absl::OkStatus();
}

absl::Status ParseFsync(const std::string& v, RecordStoreOptions::File::Fsync* out) {
  if (v == "always") {
    *out = RecordStoreOptions::File::Fsync::kAlways;
  } else if (v == "interval") {
    *out = RecordStoreOptions::File::Fsync::kInterval;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not an fsync policy (always, interval)"));
  }
  return absl::OkStatus();
}

// Splits "host:port" (or ":port", or "port").
absl::Status ParseListen(const std::string& v, std::string* host, int* port) {
  const size_t colon = v.rfind(':');
  if (colon == std::string::npos) return ParsePort(v, port);
  if (colon > 0) *host = v.substr(0, colon);
  return ParsePort(v.substr(colon + 1), port);
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting>* settings = new std::vector<Setting>{
      {"port", "RUNNEL_GATEWAY_PORT", "PORT", "gRPC port (liiklus API and runnel.v1). Default 6565.",
       [](GatewayCommandLine& c, const std::string& v) { return ParsePort(v, &c.server.grpc_port); }},
      {"host", "RUNNEL_GATEWAY_HOST", "ADDRESS", "gRPC listen address. Default 0.0.0.0.",
       [](GatewayCommandLine& c, const std::string& v) {
         c.server.grpc_host = v;
         return absl::OkStatus();
       }},
      {"http-port", "RUNNEL_GATEWAY_HTTP_PORT", "PORT",
       "HTTP port (provisioner, /streams, /healthz, /readyz, /metrics). Default 8080.",
       [](GatewayCommandLine& c, const std::string& v) { return ParsePort(v, &c.server.http_port); }},
      {"http-host", "RUNNEL_GATEWAY_HTTP_HOST", "ADDRESS", "HTTP listen address. Default 0.0.0.0.",
       [](GatewayCommandLine& c, const std::string& v) {
         c.server.http_host = v;
         return absl::OkStatus();
       }},
      {"http-max-connections", "RUNNEL_GATEWAY_HTTP_MAX_CONNECTIONS", "N",
       "HTTP connections open at once; more are closed on accept (0 = no limit). Default 4096.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseCount(v, &c.server.http_max_connections);
       }},
      {"http-max-connections-per-client", "RUNNEL_GATEWAY_HTTP_MAX_CONNECTIONS_PER_CLIENT", "N",
       "HTTP connections open at once from one client address (0 = no limit). Default 256.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseCount(v, &c.server.http_max_connections_per_client);
       }},
      {"http-idle-timeout-seconds", "RUNNEL_GATEWAY_HTTP_IDLE_TIMEOUT_SECONDS", "S",
       "HTTP connections idle (or stalled mid-request) this long are closed. Default 60.",
       [](GatewayCommandLine& c, const std::string& v) {
         RUNNEL_RETURN_IF_ERROR(ParseCount(v, &c.server.http_idle_timeout_seconds));
         if (c.server.http_idle_timeout_seconds == 0) {
           return absl::InvalidArgumentError("the HTTP idle timeout must be at least 1 second");
         }
         return absl::OkStatus();
       }},
      {"advertised-address", "RUNNEL_GATEWAY_ADVERTISED_ADDRESS", "HOST:PORT",
       "Address the provisioner API returns to clients. Default <hostname>:<port>.",
       [](GatewayCommandLine& c, const std::string& v) {
         c.server.advertised_address = v;
         return absl::OkStatus();
       }},
      {"store", "RUNNEL_GATEWAY_STORE", "file|memory|kafka", "Record store. Default file.",
       [](GatewayCommandLine& c, const std::string& v) { return ParseStore(v, &c.server.store.kind); }},
      {"data-dir", "RUNNEL_GATEWAY_DATA_DIR", "DIR", "File store directory. Default ./runnel-data.",
       [](GatewayCommandLine& c, const std::string& v) {
         if (v.empty()) return absl::InvalidArgumentError("the data directory must not be empty");
         c.server.store.file.data_dir = v;
         return absl::OkStatus();
       }},
      {"fsync", "RUNNEL_GATEWAY_FSYNC", "always|interval",
       "File store: fsync before every acknowledgement (default) or every --fsync-interval-ms.",
       [](GatewayCommandLine& c, const std::string& v) { return ParseFsync(v, &c.server.store.file.fsync); }},
      {"fsync-interval-ms", "RUNNEL_GATEWAY_FSYNC_INTERVAL_MS", "MS", "Default 100.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseUnsigned(v, &c.server.store.file.fsync_interval_ms);
       }},
      {"segment-bytes", "RUNNEL_GATEWAY_SEGMENT_BYTES", "BYTES", "File store segment size. Default 64 MiB.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseUnsigned(v, &c.server.store.file.segment_bytes);
       }},
      {"retention-bytes", "RUNNEL_GATEWAY_RETENTION_BYTES", "BYTES",
       "File store: keep at most this much per partition (0 = unlimited, default).",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseUnsigned(v, &c.server.store.file.retention_bytes);
       }},
      {"retention-ms", "RUNNEL_GATEWAY_RETENTION_MS", "MS",
       "File store: drop segments older than this (0 = forever, default).",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseUnsigned(v, &c.server.store.file.retention_ms);
       }},
      {"memory-max-records", "RUNNEL_GATEWAY_MEMORY_MAX_RECORDS", "N",
       "Memory store: records kept per partition. Default 1000000.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseUnsigned(v, &c.server.store.memory.max_records_per_partition);
       }},
      {"bootstrap-servers", "RUNNEL_GATEWAY_BOOTSTRAP_SERVERS", "HOST:PORT[,...]",
       "Kafka store: the brokers.",
       [](GatewayCommandLine& c, const std::string& v) {
         c.server.store.kafka.bootstrap_servers = v;
         return absl::OkStatus();
       }},
      {"kafka-property", "", "KEY=VALUE",
       "Kafka store: a librdkafka property passed through (repeatable).",
       [](GatewayCommandLine& c, const std::string& v) {
         const size_t eq = v.find('=');
         if (eq == std::string::npos || eq == 0) {
           return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not KEY=VALUE"));
         }
         c.server.store.kafka.properties[v.substr(0, eq)] = v.substr(eq + 1);
         return absl::OkStatus();
       }},
      {"auto-create-streams", "RUNNEL_GATEWAY_AUTO_CREATE_STREAMS", "",
       "Create unknown streams on first publish or subscribe instead of failing.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseBool(v, &c.server.gateway.auto_create_streams);
       }},
      {"max-record-bytes", "RUNNEL_GATEWAY_MAX_RECORD_BYTES", "BYTES",
       "Largest accepted record. Default 1048576.",
       [](GatewayCommandLine& c, const std::string& v) {
         return ParseUnsigned(v, &c.server.gateway.max_record_bytes);
       }},
      {"shutdown-grace-seconds", "RUNNEL_GATEWAY_SHUTDOWN_GRACE_SECONDS", "S",
       "Time in-flight calls get on SIGTERM. Default 10.",
       [](GatewayCommandLine& c, const std::string& v) {
         uint32_t s;
         RUNNEL_RETURN_IF_ERROR(ParseUnsigned(v, &s));
         c.server.shutdown_grace = absl::Seconds(s);
         return absl::OkStatus();
       }},
      {"log-level", "RUNNEL_LOG_LEVEL", "debug|info|warning|error", "Default info.",
       [](GatewayCommandLine& c, const std::string& v) {
         RUNNEL_RETURN_IF_ERROR(ParseLogLevel(v).status());
         c.log_level = v;
         return absl::OkStatus();
       }},
      {"log-format", "RUNNEL_LOG_FORMAT", "text|json", "Default text.",
       [](GatewayCommandLine& c, const std::string& v) {
         if (v != "text" && v != "json") {
           return absl::InvalidArgumentError(absl::StrCat("'", v, "' is not text or json"));
         }
         c.log_format = v;
         return absl::OkStatus();
       }},
  };
  return *settings;
}

absl::Status ApplyConfigFile(const std::string& path, GatewayCommandLine& c) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read config file '", path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  config::v1::GatewayConfig cfg;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(text.str(), &cfg, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file '", path, "': ", std::string(status.message())));
  }
  auto apply = [&](const char* name, const std::string& value) -> absl::Status {
    for (const Setting& s : Settings()) {
      if (name == std::string(s.flag)) {
        absl::Status r = s.set(c, value);
        if (!r.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("config file '", path, "': ", name, ": ", r.message()));
        }
        return absl::OkStatus();
      }
    }
    return absl::InternalError(absl::StrCat("no setting named ", name));
  };
  if (!cfg.grpc_address().empty()) {
    RUNNEL_RETURN_IF_ERROR(ParseListen(cfg.grpc_address(), &c.server.grpc_host, &c.server.grpc_port));
  }
  if (!cfg.http_address().empty()) {
    RUNNEL_RETURN_IF_ERROR(ParseListen(cfg.http_address(), &c.server.http_host, &c.server.http_port));
  }
  if (!cfg.advertised_address().empty()) RUNNEL_RETURN_IF_ERROR(apply("advertised-address", cfg.advertised_address()));
  if (!cfg.store().empty()) RUNNEL_RETURN_IF_ERROR(apply("store", cfg.store()));
  if (!cfg.file().data_dir().empty()) RUNNEL_RETURN_IF_ERROR(apply("data-dir", cfg.file().data_dir()));
  if (cfg.file().segment_bytes()) c.server.store.file.segment_bytes = cfg.file().segment_bytes();
  if (cfg.file().retention_bytes()) c.server.store.file.retention_bytes = cfg.file().retention_bytes();
  if (cfg.file().retention_ms()) c.server.store.file.retention_ms = cfg.file().retention_ms();
  if (!cfg.file().fsync().empty()) RUNNEL_RETURN_IF_ERROR(apply("fsync", cfg.file().fsync()));
  if (cfg.file().fsync_interval_ms()) c.server.store.file.fsync_interval_ms = cfg.file().fsync_interval_ms();
  if (cfg.memory().max_records_per_partition()) {
    c.server.store.memory.max_records_per_partition = cfg.memory().max_records_per_partition();
  }
  if (cfg.memory().max_bytes_per_partition()) {
    c.server.store.memory.max_bytes_per_partition = cfg.memory().max_bytes_per_partition();
  }
  if (!cfg.kafka().bootstrap_servers().empty()) c.server.store.kafka.bootstrap_servers = cfg.kafka().bootstrap_servers();
  for (const auto& [k, v] : cfg.kafka().properties()) c.server.store.kafka.properties[k] = v;
  if (cfg.kafka().replication_factor()) c.server.store.kafka.replication_factor = cfg.kafka().replication_factor();
  if (cfg.auto_create_streams()) c.server.gateway.auto_create_streams = true;
  if (cfg.max_record_bytes()) c.server.gateway.max_record_bytes = cfg.max_record_bytes();
  if (!cfg.log_level().empty()) RUNNEL_RETURN_IF_ERROR(apply("log-level", cfg.log_level()));
  if (cfg.shutdown_grace_seconds()) c.server.shutdown_grace = absl::Seconds(cfg.shutdown_grace_seconds());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GatewayCommandLine> ParseGatewayCommandLine(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  GatewayCommandLine c;
  // 1. The config file, named by flag or environment.
  std::string config_path;
  if (auto it = env.find("RUNNEL_GATEWAY_CONFIG"); it != env.end()) config_path = it->second;
  for (size_t i = 0; i < args.size(); ++i) {
    if (absl::StartsWith(args[i], "--config=")) config_path = args[i].substr(9);
    if (args[i] == "--config" && i + 1 < args.size()) config_path = args[i + 1];
  }
  if (!config_path.empty()) {
    RUNNEL_RETURN_IF_ERROR(ApplyConfigFile(config_path, c));
  }
  // 2. Environment.
  for (const Setting& s : Settings()) {
    if (s.env[0] == '\0') continue;
    auto it = env.find(s.env);
    if (it == env.end()) continue;
    if (absl::Status r = s.set(c, it->second); !r.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", s.env, ": ", r.message()));
    }
  }
  // 3. Flags: --name=value, --name value, or --switch.
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      c.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "' (see --help)"));
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "config") {
      if (!has_value) ++i;
      continue;
    }
    const Setting* setting = nullptr;
    for (const Setting& s : Settings()) {
      if (name == s.flag) setting = &s;
    }
    if (setting == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '--", name, "' (see --help)"));
    }
    if (!has_value && setting->value_name[0] != '\0') {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value (", setting->value_name, ")"));
      }
      value = args[++i];
    }
    if (absl::Status r = setting->set(c, value); !r.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, ": ", r.message()));
    }
  }
  if (c.server.store.kind == RecordStoreOptions::Kind::kKafka &&
      c.server.store.kafka.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("--store kafka needs --bootstrap-servers (or RUNNEL_GATEWAY_BOOTSTRAP_SERVERS)");
  }
  return c;
}

std::string GatewayUsage() {
  std::string out =
      "runnel-gateway: Runnel's stream gateway (liiklus API + runnel.v1 over gRPC, HTTP admin).\n\n"
      "Usage: runnel-gateway [--config FILE] [flags]\n\n"
      "Settings apply in this order: defaults, --config FILE (JSON, see\n"
      "proto/runnel/config/v1/gateway.proto; also RUNNEL_GATEWAY_CONFIG), environment, flags.\n\n";
  for (const Setting& s : Settings()) {
    std::string left = absl::StrCat("  --", s.flag);
    if (s.value_name[0] != '\0') absl::StrAppend(&left, " ", s.value_name);
    absl::StrAppend(&out, left, "\n      ", s.help);
    if (s.env[0] != '\0') absl::StrAppend(&out, " [env ", s.env, "]");
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "  --help\n      Print this and exit.\n");
  return out;
}

}  // namespace runnel::gateway
