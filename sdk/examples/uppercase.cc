// uppercase: text in, text out (request-reply). ASCII letters only; other bytes pass through.
#include <runnel/sdk/server.h>

#include <string>
#include <string_view>

int main(int argc, char** argv) {
  return runnel::sdk::Run(argc, argv, runnel::sdk::Function::RequestReply([](std::string_view in) {
                            std::string out(in);
                            for (char& c : out) {
                              if (c >= 'a' && c <= 'z') {
                                c = static_cast<char>(c - 'a' + 'A');
                              }
                            }
                            return out;
                          }));
}
