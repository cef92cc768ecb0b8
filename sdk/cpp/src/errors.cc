#include "runnel/sdk/errors.h"

#include <string>

namespace runnel::sdk {
namespace {
std::string Join(std::string_view prefix, std::string_view detail) {
  std::string out(prefix);
  out += ": ";
  out += detail;
  return out;
}
}  // namespace

absl::Status UnsupportedMediaTypeError(std::string_view detail) {
  return absl::InvalidArgumentError(Join(kUnsupportedMediaTypePrefix, detail));
}
absl::Status NotAcceptableError(std::string_view detail) {
  return absl::InvalidArgumentError(Join(kNotAcceptablePrefix, detail));
}
absl::Status BadInputError(std::string_view detail) {
  return absl::InvalidArgumentError(Join(kBadInputPrefix, detail));
}
absl::Status ProtocolViolationError(std::string_view detail) {
  return absl::InvalidArgumentError(Join(kProtocolViolationPrefix, detail));
}
absl::Status InvocationError(std::string_view detail) {
  return absl::UnknownError(Join(kInvocationErrorPrefix, detail));
}

}  // namespace runnel::sdk
