#include "sidecar/record_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/header_names.h"

namespace runnel::sidecar {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

InputRecord Record(std::map<std::string, std::string> extensions) {
  InputRecord r{.input = 1, .partition = 3, .offset = 41, .key = "k"};
  r.event.set_data("{}");
  r.event.set_data_content_type("application/json");
  r.event.mutable_extensions()->insert(extensions.begin(), extensions.end());
  return r;
}

// The one place extension names become header names (for riff-rpc and HTTP alike).
TEST(ToFrame, ExtensionsArriveByTheirHeaderNamesWithTheKey) {
  streaming::InputFrame f =
      ToFrame(Record({{ExtensionName("X-Salutation"), "Hi"}, {"tenant", "acme"}}), "card-7", {});
  EXPECT_THAT(f.headers(), UnorderedElementsAre(Pair("x-salutation", "Hi"), Pair("tenant", "acme"),
                                                Pair("x-runnel-key", "card-7")));
  EXPECT_EQ(f.argindex(), 1);
  EXPECT_EQ(f.contenttype(), "application/json");
}

TEST(ToFrame, AnExtensionCannotPassForTheProcessorsHeaders) {
  streaming::InputFrame f = ToFrame(Record({{ExtensionName("X-Runnel-Key"), "forged"},
                                            {ExtensionName("x-runnel-window-end"), "forged"}}),
                                    "", {});
  EXPECT_TRUE(f.headers().empty());
}

TEST(ToFrame, WindowAndEventTimeHeaders) {
  FrameContext context{.event_time = absl::FromUnixMillis(1'800'000'001'250),
                       .window_start = "s",
                       .window_end = "e",
                       .update = true};
  streaming::InputFrame f = ToFrame(Record({}), "", context);
  EXPECT_THAT(f.headers(), UnorderedElementsAre(
                               Pair("x-runnel-event-time", "2027-01-15T08:00:01.250Z"),
                               Pair("x-runnel-window-start", "s"), Pair("x-runnel-window-end", "e"),
                               Pair("x-runnel-update", "true")));
}

// ... and the one place header names become extension names.
TEST(ToPublish, HeadersBecomeExtensionsAndTheKeyHeaderTheKey) {
  streaming::OutputFrame out;
  out.set_payload("hi");
  (*out.mutable_headers())["X-Greeted-By"] = "greet";
  (*out.mutable_headers())["x-runnel-key"] = "mine";
  liiklus::PublishRequest r =
      ToPublish(out, {.source = "p", .time = absl::UnixEpoch(), .key = std::string("inherited")});
  EXPECT_EQ(r.key(), "mine") << "the function's key wins";
  EXPECT_THAT(r.liiklusevent().extensions(), UnorderedElementsAre(Pair("h0x0greeted0by", "greet")));
  // The next processor's function sees the header the first one set.
  InputRecord next{.key = r.key(), .event = r.liiklusevent()};
  EXPECT_THAT(ToFrame(next, next.key, {}).headers(),
              UnorderedElementsAre(Pair("x-greeted-by", "greet"), Pair("x-runnel-key", "mine")));
}

TEST(ToPublish, TheLegacyKeyHeaderAndTheInheritedKey) {
  streaming::OutputFrame out;
  (*out.mutable_headers())["key"] = "legacy";
  EXPECT_EQ(ToPublish(out, {.source = "p"}).key(), "legacy");
  EXPECT_EQ(ToPublish(streaming::OutputFrame(), {.source = "p", .key = std::string("in")}).key(),
            "in");
}

TEST(StableEventId, SameNameSameIdDifferentNameDifferentId) {
  EXPECT_EQ(StableEventId("p/k/1/2/0"), StableEventId("p/k/1/2/0"));
  EXPECT_NE(StableEventId("p/k/1/2/0"), StableEventId("p/k/1/2/1"));
  EXPECT_EQ(StableEventId("x").size(), 36u);
}

}  // namespace
}  // namespace runnel::sidecar
