#pragma once
// Media types ("type/subtype; param=value"), as streams declare them and records carry them.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace runnel {

struct MediaType {
  std::string type;     // Lower-cased; "*" for a wildcard.
  std::string subtype;  // Lower-cased; "*" for a wildcard.
  std::map<std::string, std::string> params;  // Keys lower-cased.

  std::string Essence() const { return type + "/" + subtype; }
};

// Parses one media type. INVALID_ARGUMENT names the text when it is not "type/subtype[;k=v]*".
absl::StatusOr<MediaType> ParseMediaType(absl::string_view text);

// True if a record of media type `actual` may go to a stream that declares `declared`:
// same type and subtype, or a wildcard in `declared` ("*/*", "text/*"). Parameters are ignored.
bool MediaTypeAccepts(const MediaType& declared, const MediaType& actual);

}  // namespace runnel
