// greet: a JSON struct in, a JSON struct out, with headers both ways (request-reply).
//   in:  {"name": "Ada"}   header x-salutation: "Hi" (optional, default "Hello")
//   out: {"greeting": "Hi, Ada!", "length": 8}   header x-greeted-by: runnel-greet
#include <runnel/sdk/server.h>

#include <string>

struct Person {
  std::string name;
};
void from_json(const nlohmann::json& j, Person& p) { j.at("name").get_to(p.name); }
void to_json(nlohmann::json& j, const Person& p) { j = {{"name", p.name}}; }

struct Greeting {
  std::string greeting;
  size_t length = 0;
};
void to_json(nlohmann::json& j, const Greeting& g) {
  j = {{"greeting", g.greeting}, {"length", g.length}};
}
void from_json(const nlohmann::json& j, Greeting& g) {
  j.at("greeting").get_to(g.greeting);
  j.at("length").get_to(g.length);
}

using runnel::sdk::WithHeaders;

int main(int argc, char** argv) {
  return runnel::sdk::Run(
      argc, argv,
      runnel::sdk::Function::RequestReply([](WithHeaders<Person> in) -> WithHeaders<Greeting> {
        auto it = in.headers.find("x-salutation");
        std::string salutation = it == in.headers.end() ? "Hello" : it->second;
        std::string text = salutation + ", " + in.value.name + "!";
        return {.value = {.greeting = text, .length = text.size()},
                .headers = {{"x-greeted-by", "runnel-greet"}}};
      }));
}
