// A sink for the sidecar's tests: a streaming function with one input and no outputs that
// appends each payload, one per line, to the file named by SINK_FILE.
#include <runnel/sdk/server.h>

#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  const char* path = std::getenv("SINK_FILE");
  if (path == nullptr) {
    return 2;
  }
  const std::string file(path);
  auto body = [file](runnel::sdk::Invocation& inv) -> absl::Status {
    std::ofstream out(file, std::ios::app);
    while (true) {
      auto m = inv.input(0).NextMessage();
      if (!m.ok()) {
        return m.status();
      }
      if (!m->has_value()) {
        return absl::OkStatus();
      }
      out << (*m)->payload << "\n";
      out.flush();
    }
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 0}, body));
}
