// The SDK's public media-type API over the one implementation in common/media_type.h: the
// public struct mirrors runnel::MediaType field for field, so these are plain conversions.
#include "runnel/sdk/media_type.h"

#include "common/media_type.h"

namespace runnel::sdk {
namespace {

runnel::MediaType ToCommon(const MediaType& m) {
  return runnel::MediaType{.type = m.type, .subtype = m.subtype, .params = m.params, .q = m.q};
}

MediaType FromCommon(runnel::MediaType m) {
  return MediaType{.type = std::move(m.type),
                   .subtype = std::move(m.subtype),
                   .params = std::move(m.params),
                   .q = m.q};
}

std::vector<runnel::MediaType> ToCommon(std::span<const MediaType> list) {
  std::vector<runnel::MediaType> out;
  out.reserve(list.size());
  for (const MediaType& m : list) out.push_back(ToCommon(m));
  return out;
}

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

std::optional<std::string> MediaType::Param(std::string_view name) const {
  return ToCommon(*this).Param(View(name));
}

std::string MediaType::ToString() const { return ToCommon(*this).ToString(); }

absl::StatusOr<MediaType> ParseMediaType(std::string_view text) {
  absl::StatusOr<runnel::MediaType> mt = runnel::ParseMediaType(View(text));
  if (!mt.ok()) return mt.status();
  return FromCommon(*std::move(mt));
}

absl::StatusOr<std::vector<MediaType>> ParseAcceptList(std::string_view text) {
  absl::StatusOr<std::vector<runnel::MediaType>> list = runnel::ParseAcceptList(View(text));
  if (!list.ok()) return list.status();
  std::vector<MediaType> out;
  out.reserve(list->size());
  for (runnel::MediaType& m : *list) out.push_back(FromCommon(std::move(m)));
  return out;
}

std::optional<MediaType> Negotiate(std::span<const MediaType> accept,
                                   std::span<const MediaType> offers) {
  const std::vector<runnel::MediaType> a = ToCommon(accept), o = ToCommon(offers);
  std::optional<runnel::MediaType> chosen = runnel::Negotiate(a, o);
  if (!chosen) return std::nullopt;
  return FromCommon(*std::move(chosen));
}

}  // namespace runnel::sdk
