#pragma once
// One rule between message header names (riff-rpc frame headers, HTTP headers, `runnel publish
// --header`) and CloudEvent extension names, which CloudEvents 1.0 restricts to lower-case
// letters and digits. Used by runnel-processor on both function transports, by the gateway when
// it normalises what liiklus clients publish, and by the CLI. docs/function-authors.md states it.
//
//   ExtensionName("greeting")      == "greeting"         valid names are kept as they are
//   ExtensionName("X-Greeted-By")  == "h0x0greeted0by"   others are lower-cased, then escaped
//   HeaderName(ExtensionName(h))   == lower-case h       for every header name h
//   HeaderName(e)                  == e                  for every e that ExtensionName kept
//
// The rule. A header name is first lower-cased (ASCII; header names are case-insensitive).
//   - If the result is a valid extension name ([a-z0-9]+) that does not start with "h0", it is
//     the extension name: "Greeting" -> "greeting", "traceparent" -> "traceparent".
//   - Otherwise the extension name is "h0" followed by the lower-cased name with
//       '-' written as "0",   '0' as "90",   '9' as "99",   '_' as "9u",   '.' as "9d",
//     letters and the digits 1-8 kept, and any other byte as "9x" plus its two lower-case hex
//     digits ('/' -> "9x2f"):
//       "X-Greeted-By" -> "h0x0greeted0by"     "x-b3-traceid" -> "h0x0b30traceid"
//       "user_agent"   -> "h0user9uagent"      "a.b"          -> "h0a9db"
//       "h0st"         -> "h0h90st"            ""             -> "h0"
// HeaderName reverses it: an extension name that ExtensionName produces from some header name h
// (h lower-case) presents as h; any other extension name presents as it is. The escape code is
// prefix-free, so decoding is unambiguous and two extension names never present as one header.
//
// The only valid extension names that are not kept are those starting with "h0": a header
// named "h0..." is stored escaped ("h0h90..."), and an extension "h0..." published as such by a
// liiklus client presents as its decoding when it is a well-formed escape ("h0x0a" as "x-a").
// No name is truncated: escaping lengthens a name (CloudEvents recommends, but does not
// require, at most 20 characters).
//
// ExtensionName is not idempotent ("h0x0a" is escaped again): apply it once, where a header
// name becomes an extension name. Pure.

#include <string>
#include <string_view>

namespace runnel {

// Whether `name` is a valid CloudEvent extension name (1+ of [a-z0-9]).
bool IsExtensionName(std::string_view name);
// The extension name a header is stored under. Never empty for a non-empty `header`.
std::string ExtensionName(std::string_view header);
// The header name an extension is presented to functions as (the inverse of ExtensionName).
std::string HeaderName(std::string_view extension);

// The record key travels as this header in both directions, on riff-rpc and HTTP
// ("X-Runnel-Key" on HTTP, where names are case-insensitive). On outputs the legacy riff-rpc
// header "key" is read too.
inline constexpr char kKeyHeader[] = "x-runnel-key";

}  // namespace runnel
