#include "sidecar/http_function.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/header_names.h"

namespace runnel::sidecar {
namespace {

constexpr size_t kBodyExcerptBytes = 4096;    // runnelhttpbody.
constexpr size_t kMessageExcerptBytes = 256;  // The body's share of an error message.
// runnel::kKeyHeader as the gateway's HTTP front spells it.
constexpr char kHttpKeyHeader[] = "X-Runnel-Key";

// Request headers a record header must not become: they belong to Content-Type/Accept (set from
// the record and the output stream) or to the HTTP framing, which the client owns.
bool ReservedRequestHeader(absl::string_view lower) {
  static constexpr absl::string_view kNames[] = {
      "content-type", "accept", "host",    "content-length", "transfer-encoding", "connection",
      "keep-alive",   "te",     "trailer", "upgrade",        "expect"};
  return std::find(std::begin(kNames), std::end(kNames), lower) != std::end(kNames) ||
         absl::StartsWith(lower, "proxy-");
}

// Response headers that say something about the HTTP exchange, not the function's result.
bool TransportResponseHeader(absl::string_view lower) {
  static constexpr absl::string_view kNames[] = {
      "content-type", "content-length", "transfer-encoding", "connection", "keep-alive",
      "te",           "trailer",        "upgrade",           "date",       "server"};
  return std::find(std::begin(kNames), std::end(kNames), lower) != std::end(kNames) ||
         absl::StartsWith(lower, "proxy-");
}

// CloudEvent context attributes: an extension must not shadow them.
bool CloudEventAttribute(absl::string_view name) {
  static constexpr absl::string_view kNames[] = {"id",   "source",  "specversion", "type",
                                                 "time", "subject", "dataschema",  "data",
                                                 "datacontenttype"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// RFC 9110 token characters.
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
                                         absl::string_view::npos;
  });
}

bool SafeHeaderValue(absl::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == 0; });
}

std::string Describe(int status, absl::string_view url, absl::string_view body) {
  std::string out = absl::StrCat("HTTP ", status, " from ", url);
  const std::string excerpt =
      Utf8Excerpt(absl::StripAsciiWhitespace(body), kMessageExcerptBytes);
  if (!excerpt.empty()) absl::StrAppend(&out, ": ", excerpt);
  return out;
}

}  // namespace

absl::Status ParseFunctionUrl(const std::string& url, HttpFunctionOptions* options) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "': ", why, " (expected http://host:port/path)"));
  };
  absl::string_view rest(url);
  const size_t scheme_end = rest.find("://");
  if (scheme_end == absl::string_view::npos) return bad("no http:// scheme");
  const std::string scheme = absl::AsciiStrToLower(rest.substr(0, scheme_end));
  if (scheme == "https") {
    return bad("https is not supported; call the function over plain HTTP (a sidecar, loopback) "
               "or put a TLS-terminating proxy in front");
  }
  if (scheme != "http") return bad(absl::StrCat("scheme '", scheme, "' is not http"));
  rest.remove_prefix(scheme_end + 3);
  const size_t path_start = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, path_start);
  std::string target =
      path_start == absl::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target = absl::StrCat("/", target);
  if (authority.find('@') != absl::string_view::npos) return bad("user info is not supported");
  std::string host;
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated IPv6 address");
    host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("garbage after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("no host");
  int port = 80;
  if (!port_text.empty() || authority.back() == ':') {
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
        port <= 0 || port > 65535) {
      return bad(absl::StrCat("port '", port_text, "' is not a number in [1, 65535]"));
    }
  }
  options->url = url;
  options->host = std::move(host);
  options->port = port;
  options->target = std::move(target);
  return absl::OkStatus();
}

HttpFunctionRequest RequestForFrame(streaming::InputFrame frame, const std::string& accept) {
  HttpFunctionRequest request;
  request.content_type =
      frame.contenttype().empty() ? "application/octet-stream" : frame.contenttype();
  request.accept = accept.empty() ? "*/*" : accept;
  // Frame headers are header names already: the processor maps extension names once, for
  // every transport (sidecar/record_mapping.h).
  for (const auto& [name, value] : frame.headers()) {
    if (!SafeHeaderValue(value)) continue;
    if (absl::EqualsIgnoreCase(name, kKeyHeader)) {
      request.headers.emplace_back(kHttpKeyHeader, value);
      continue;
    }
    const std::string lower = absl::AsciiStrToLower(name);
    if (!IsToken(name) || ReservedRequestHeader(lower)) continue;
    request.headers.emplace_back(name, value);
  }
  // Protobuf maps iterate in no particular order; a stable order keeps requests reproducible.
  std::sort(request.headers.begin(), request.headers.end());
  request.body = std::move(*frame.mutable_payload());
  return request;
}

HttpVerdict ClassifyResponse(HttpFunctionResponse response, absl::string_view url) {
  HttpVerdict v;
  const int code = response.status;
  if (code >= 200 && code < 300) {
    if (code == 204) {
      v.kind = HttpVerdict::Kind::kNoOutput;
      return v;
    }
    v.kind = HttpVerdict::Kind::kOutput;
    v.output.set_resultindex(0);
    v.output.set_contenttype(response.content_type.empty()
                                 ? "application/octet-stream"
                                 : Utf8Excerpt(response.content_type, 1024));
    auto& headers = *v.output.mutable_headers();
    for (const auto& [name, value] : response.headers) {
      const std::string lower = absl::AsciiStrToLower(name);
      if (TransportResponseHeader(lower)) continue;
      // Header names, as riff-rpc frames carry them: the processor turns X-Runnel-Key into the
      // record key and the rest into extensions (one mapping, sidecar/record_mapping.h).
      if (lower != kKeyHeader && CloudEventAttribute(ExtensionName(lower))) continue;
      headers[lower] = Utf8Excerpt(value, value.size());
    }
    v.output.set_payload(std::move(response.body));
    return v;
  }
  v.detail["runnelhttpstatus"] = absl::StrCat(code);
  v.detail["runnelhttpbody"] = Utf8Excerpt(response.body, kBodyExcerptBytes);
  const std::string what = Describe(code, url, response.body);
  // 5xx and "try again later" are retried; 501 and 505 say the function can never answer this
  // request, so retrying would only delay the dead letter.
  if (code == 408 || code == 429 || (code >= 500 && code <= 599 && code != 501 && code != 505)) {
    v.kind = HttpVerdict::Kind::kRetry;
    switch (code) {
      case 408:
      case 504:
        v.status = absl::DeadlineExceededError(what);
        break;
      case 429:
        v.status = absl::ResourceExhaustedError(what);
        break;
      case 500:
        v.status = absl::InternalError(what);
        break;
      default:
        v.status = absl::UnavailableError(what);
    }
    return v;
  }
  v.kind = HttpVerdict::Kind::kReject;
  // The prefixes riff's streaming-http-adapter maps to 415, 406 and 400, mapped back, so a dead
  // letter reads the same whichever transport refused the record.
  switch (code) {
    case 400:
      v.status = absl::InvalidArgumentError(absl::StrCat("Invoker: Bad Input Signal: ", what));
      break;
    case 406:
      v.status = absl::InvalidArgumentError(absl::StrCat("Invoker: Not Acceptable: ", what));
      break;
    case 415:
      v.status =
          absl::InvalidArgumentError(absl::StrCat("Invoker: Unsupported Media Type: ", what));
      break;
    case 401:
      v.status = absl::UnauthenticatedError(what);
      break;
    case 403:
      v.status = absl::PermissionDeniedError(what);
      break;
    case 404:
      v.status = absl::NotFoundError(what);
      break;
    case 501:
    case 505:
      v.status = absl::UnimplementedError(what);
      break;
    default:
      v.status = absl::InvalidArgumentError(
          code >= 300 && code < 400 ? absl::StrCat(what, " (redirects are not followed)") : what);
  }
  return v;
}

std::string Utf8Excerpt(absl::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (valid && len > 1) {
      // Reject overlong forms, surrogates and code points past U+10FFFF.
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      valid = !(len == 2 && c < 0xc2) && !(len == 3 && c == 0xe0 && c1 < 0xa0) &&
              !(len == 3 && c == 0xed && c1 >= 0xa0) && !(len == 4 && c == 0xf0 && c1 < 0x90) &&
              !(len == 4 && (c > 0xf4 || (c == 0xf4 && c1 >= 0x90)));
    }
    if (!valid) len = 1;
    if (out.size() + (valid ? len : 1) > max_bytes) break;
    if (valid) {
      out.append(text.data() + i, len);
    } else {
      out.push_back('?');
    }
    i += len;
  }
  return out;
}

}  // namespace runnel::sidecar
