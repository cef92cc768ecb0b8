#pragma once
// The values a Runnel function sees and produces. Plain value types: no gRPC, protobuf or Boost.

#include <map>
#include <string>
#include <utility>

namespace runnel::sdk {

// Message headers. On gRPC they are riff-rpc InputFrame/OutputFrame headers; on HTTP, request and
// response headers (names lower-cased on input).
using Headers = std::map<std::string, std::string>;

// One message on an input or output: raw payload bytes, the MIME type they are encoded in, and
// headers. A function that takes or returns `Message` sees the wire form and does its own
// decoding; an empty `content_type` on input means `application/octet-stream`, and on output it
// lets the SDK pick the first acceptable type of the caller's list.
struct Message {
  std::string payload;
  std::string content_type;
  Headers headers;
};

// Raw bytes: decoded from any input content type, encoded as `application/octet-stream`.
struct Bytes {
  std::string data;
};

// A typed value plus the message headers: as a parameter, the input's headers; as a result,
// headers to set on the output message.
//   [](WithHeaders<Person> in) { return WithHeaders<Greeting>{Greet(in.value), {{"x-by", "me"}}}; }
template <typename T>
struct WithHeaders {
  using value_type = T;
  T value;
  Headers headers;
};

}  // namespace runnel::sdk
