// square: number in, number out (request-reply). Pure arithmetic never blocks, so HTTP calls it
// on the I/O thread.
#include <runnel/sdk/server.h>

int main(int argc, char** argv) {
  return runnel::sdk::Run(
      argc, argv,
      runnel::sdk::Function::RequestReply([](double x) { return x * x; }, {.may_block = false}));
}
