#pragma once
// Codecs: how typed function parameters and results map to and from messages.
//
//   type                    decodes from                               encodes to (preference)
//   double                  application/json (a number), text/plain    application/json, text/plain
//   std::string             text/plain (utf-8, us-ascii, iso-8859-1),  text/plain; charset=utf-8,
//                           application/json (a string),               application/json,
//                           application/octet-stream                   application/octet-stream
//   Bytes                   any content type, payload as is            application/octet-stream
//   nlohmann::json, or any  application/json (utf-8)                   application/json
//   T with to_json/from_json
//   Message                 as is                                      its own content_type
//   WithHeaders<T>          as T, plus the headers                     as T, plus the headers
//
// Decode errors are UnsupportedMediaTypeError (wrong content type for T) or BadInputError (payload
// does not parse); encode errors are NotAcceptableError. Specialise `Codec<T>` to add a type.

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runnel/sdk/errors.h"
#include "runnel/sdk/media_type.h"
#include "runnel/sdk/message.h"

namespace runnel::sdk {

// Building blocks, exposed for custom codecs. `in.content_type` empty means octet-stream.
absl::StatusOr<double> DecodeNumber(const Message& in);
absl::StatusOr<std::string> DecodeText(const Message& in);
absl::StatusOr<nlohmann::json> DecodeJson(const Message& in);
// `as` is one of the offers of the matching Codec (the negotiated type).
absl::StatusOr<Message> EncodeNumber(double value, const MediaType& as);
absl::StatusOr<Message> EncodeText(std::string value, const MediaType& as);
absl::StatusOr<Message> EncodeJson(const nlohmann::json& value, const MediaType& as);
// The SDK's preference lists for the built-in codecs.
std::span<const MediaType> NumberOffers();
std::span<const MediaType> TextOffers();
std::span<const MediaType> JsonOffers();
std::span<const MediaType> BytesOffers();

// A type usable through nlohmann/json's ADL to_json/from_json.
template <typename T>
concept JsonConvertible = requires(nlohmann::json j, const T& t) {
  { j.get<T>() };
  { nlohmann::json(t) };
};

template <typename T>
struct Codec;

template <>
struct Codec<double> {
  static absl::StatusOr<double> Decode(const Message& in) { return DecodeNumber(in); }
  static std::span<const MediaType> Offers() { return NumberOffers(); }
  static absl::StatusOr<Message> Encode(double v, const MediaType& as) {
    return EncodeNumber(v, as);
  }
};

template <>
struct Codec<std::string> {
  static absl::StatusOr<std::string> Decode(const Message& in) { return DecodeText(in); }
  static std::span<const MediaType> Offers() { return TextOffers(); }
  static absl::StatusOr<Message> Encode(std::string v, const MediaType& as) {
    return EncodeText(std::move(v), as);
  }
};

template <>
struct Codec<Bytes> {
  static absl::StatusOr<Bytes> Decode(const Message& in) { return Bytes{in.payload}; }
  static std::span<const MediaType> Offers() { return BytesOffers(); }
  static absl::StatusOr<Message> Encode(Bytes v, const MediaType& as) {
    return Message{.payload = std::move(v.data), .content_type = as.ToString(), .headers = {}};
  }
};

template <typename T>
  requires JsonConvertible<T>
struct Codec<T> {
  static absl::StatusOr<T> Decode(const Message& in) {
    absl::StatusOr<nlohmann::json> json = DecodeJson(in);
    if (!json.ok()) {
      return json.status();
    }
    try {
      return json->template get<T>();
    } catch (const std::exception& e) {
      return BadInputError(e.what());
    }
  }
  static std::span<const MediaType> Offers() { return JsonOffers(); }
  static absl::StatusOr<Message> Encode(const T& v, const MediaType& as) {
    try {
      return EncodeJson(nlohmann::json(v), as);
    } catch (const std::exception& e) {
      return absl::UnknownError(std::string("encode result as JSON: ") + e.what());
    }
  }
};

template <typename T>
struct IsWithHeaders : std::false_type {};
template <typename T>
struct IsWithHeaders<WithHeaders<T>> : std::true_type {};

// Decodes `in` into T (any codec type, Message, or WithHeaders<T>).
template <typename T>
absl::StatusOr<T> DecodeAs(Message in) {
  if constexpr (std::is_same_v<T, Message>) {
    return in;
  } else if constexpr (IsWithHeaders<T>::value) {
    Headers headers = std::move(in.headers);
    absl::StatusOr<typename T::value_type> v = DecodeAs<typename T::value_type>(std::move(in));
    if (!v.ok()) {
      return v.status();
    }
    return T{.value = *std::move(v), .headers = std::move(headers)};
  } else {
    return Codec<T>::Decode(in);
  }
}

// Encodes a Message result: its content type (octet-stream when empty) must be acceptable.
absl::StatusOr<Message> EncodeMessageAs(Message value, std::span<const MediaType> accept);

// Encodes `value` in the first acceptable type of `accept` that T's codec offers.
template <typename T>
absl::StatusOr<Message> EncodeAs(T value, std::span<const MediaType> accept) {
  using V = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<V, Message>) {
    return EncodeMessageAs(std::move(value), accept);
  } else if constexpr (IsWithHeaders<V>::value) {
    absl::StatusOr<Message> m = EncodeAs(std::move(value.value), accept);
    if (m.ok()) {
      m->headers = std::move(value.headers);
    }
    return m;
  } else if constexpr (std::is_convertible_v<V, std::string_view> &&
                       !std::is_same_v<V, std::string>) {
    return EncodeAs(std::string(value), accept);
  } else if constexpr (std::is_arithmetic_v<V> && !std::is_same_v<V, double>) {
    return EncodeAs(static_cast<double>(value), accept);
  } else {
    std::optional<MediaType> as = Negotiate(accept, Codec<V>::Offers());
    if (!as) {
      std::string offered;
      for (const MediaType& o : Codec<V>::Offers()) {
        offered += (offered.empty() ? "" : ", ") + o.ToString();
      }
      return NotAcceptableError("none of the accepted types can be produced (produces: " +
                                offered + ")");
    }
    return Codec<V>::Encode(std::move(value), *as);
  }
}

}  // namespace runnel::sdk
