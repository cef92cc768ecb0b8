#pragma once
// Media types and content negotiation, shared by every component (the SDK's public
// runnel/sdk/media_type.h forwards here).
//
// MIME types and content negotiation (RFC 9110 media types and Accept lists), as riff's invokers
// use them: inputs are decoded by their content type, outputs are encoded in the first type of
// the caller's Accept-style list (riff-rpc `expectedContentTypes`, HTTP `Accept`) that the SDK
// can produce. Pure functions; thread-compatible.

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace runnel {

// A media type or media range: `type/subtype; k=v`. Type, subtype and parameter names are stored
// lower-case; parameter values keep their case (quotes removed). `q` is the Accept weight
// (1 when absent) and is not kept in `params`.
struct MediaType {
  std::string type;
  std::string subtype;
  std::vector<std::pair<std::string, std::string>> params;
  double q = 1.0;

  // `type/subtype` without parameters, e.g. "application/json".
  std::string Essence() const { return type + "/" + subtype; }
  // The value of parameter `name` (lower-case), if present.
  std::optional<std::string> Param(absl::string_view name) const;
  // `type/subtype` followed by "; k=v" for each parameter (never q).
  std::string ToString() const;
  // True for `*/*` and `type/*` ranges.
  bool IsWildcard() const { return type == "*" || subtype == "*"; }
};

// Parses one media type or range. An empty string is an error; the caller decides the default.
// Errors: kInvalidArgument naming the offending text.
absl::StatusOr<MediaType> ParseMediaType(absl::string_view text);

// Parses a comma-separated Accept list. An empty or all-blank list means `*/*`. Errors:
// kInvalidArgument on a malformed element or q-value.
absl::StatusOr<std::vector<MediaType>> ParseAcceptList(absl::string_view text);

// Picks what to produce: the caller's ranges are taken in order of q (highest first; equal q
// keeps the caller's order); for each, the first of `offers` (the SDK's types, in its own
// preference order) that the range matches wins, unless a more specific range gives that offer
// q=0. A range matches an offer when type and subtype match (with wildcards) and every range
// parameter equals the offer's (charset compared case-insensitively). Returns nullopt when
// nothing is acceptable. The result is the offer itself, with concrete type and parameters.
std::optional<MediaType> Negotiate(std::span<const MediaType> accept,
                                   std::span<const MediaType> offers);

// True if a record of media type `actual` may go to a stream that declares `declared`: same type
// and subtype, or a wildcard in `declared` ("*/*", "text/*"). Parameters are ignored.
bool MediaTypeAccepts(const MediaType& declared, const MediaType& actual);

}  // namespace runnel
