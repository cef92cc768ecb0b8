// The smallest Runnel function: text in, greeting out.
#include <runnel/sdk/server.h>

#include <string>
#include <string_view>

int main(int argc, char** argv) {
  return runnel::sdk::Run(argc, argv, runnel::sdk::Function::RequestReply([](std::string_view who) {
                            return "hello " + std::string(who);
                          }));
}
