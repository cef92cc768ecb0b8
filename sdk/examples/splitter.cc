// splitter: streaming, one input of amounts, two outputs: amounts above 5 go to output 0
// ("big" in riff's StreamProc sample), the others to output 1 ("small"). Headers are kept.
#include <runnel/sdk/server.h>

using runnel::sdk::Invocation;
using runnel::sdk::WithHeaders;

int main(int argc, char** argv) {
  auto body = [](Invocation& inv) -> absl::Status {
    while (true) {
      absl::StatusOr<std::optional<WithHeaders<double>>> x =
          inv.input(0).Next<WithHeaders<double>>();
      if (!x.ok()) {
        return x.status();
      }
      if (!x->has_value()) {
        return absl::OkStatus();
      }
      WithHeaders<double>& amount = **x;
      int out = amount.value > 5 ? 0 : 1;
      if (absl::Status s = inv.output(out).Emit(std::move(amount)); !s.ok()) {
        return s;
      }
    }
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 2}, body));
}
