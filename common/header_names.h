#pragma once
// One rule between message header names (riff-rpc frame headers, HTTP headers, `runnel publish
// --header`) and CloudEvent extension names, which CloudEvents 1.0 restricts to lower-case
// letters and digits. Used by runnel-processor on both function transports, by the gateway when
// it normalises what liiklus clients publish, and by the CLI. docs/function-authors.md states it.
//
//   ExtensionName("greeting")      == "greeting"         valid names are kept as they are
//   ExtensionName("X-Greeted-By")  == see header_names.cc: lower-cased, then escaped
//   HeaderName(ExtensionName(h))   == lower-case h       for every header name h
//   HeaderName(e)                  == e                  for every e that ExtensionName kept
// Pure.

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
