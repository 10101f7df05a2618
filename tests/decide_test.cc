#include "projector/decide.h"

#include "support/event_samples.h"

#include <gtest/gtest.h>

namespace fj {
namespace {

using namespace fj::testing;

class DecideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const Event& e :
         {registered("web"), registered("old"), retired("old"), added("web", "a")}) {
      state_.apply(state_.seq() + 1, view(e));
    }
  }
  Result<Decision> run(const Command& c) { return decide(state_, c, Origin::api, 42); }
  Errc refusal(const Command& c) {
    auto r = run(c);
    EXPECT_FALSE(r);
    return r ? Errc{} : r.error().code;
  }

  Projection state_;
};

TEST_F(DecideTest, RegisterProducesOneEventWithTheGivenTime) {
  auto r = run(RegisterTemplate{"db", "src-db", "database"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->events.size(), 1u);
  const Event& e = r->events[0];
  EXPECT_EQ(e.type, EventType::template_registered);
  EXPECT_EQ(e.source, "src-db");
  EXPECT_EQ(e.name, "database");
  EXPECT_EQ(e.time_ns, 42u);
  EXPECT_EQ(e.origin, Origin::api);
}

TEST_F(DecideTest, RegisterOfATakenIdIsAlreadyExists) {
  EXPECT_EQ(refusal(RegisterTemplate{"web", "s", ""}), Errc::already_exists);
  EXPECT_EQ(refusal(RegisterTemplate{"old", "s", ""}), Errc::already_exists);
}

TEST_F(DecideTest, ForkOfAnUnknownTemplateIsNotFound) {
  EXPECT_EQ(refusal(AddFork{"nope", "b"}), Errc::not_found);
}

TEST_F(DecideTest, ForkOfARetiredTemplateIsRetired) {
  EXPECT_EQ(refusal(AddFork{"old", "b"}), Errc::retired);
}

TEST_F(DecideTest, ForkThatIsLiveAnywhereIsAlreadyLive) {
  EXPECT_EQ(refusal(AddFork{"web", "a"}), Errc::already_live);
  state_.apply(5, view(registered("db")));
  EXPECT_EQ(refusal(AddFork{"db", "a"}), Errc::already_live);
}

TEST_F(DecideTest, ForkProducesForkAdded) {
  auto r = run(AddFork{"web", "b"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].type, EventType::fork_added);
  EXPECT_EQ(r->events[0].fork, "b");
}

TEST_F(DecideTest, UnforkOfANonMemberIsNotFound) {
  EXPECT_EQ(refusal(RemoveFork{"web", "zzz"}), Errc::not_found);
  EXPECT_EQ(refusal(RemoveFork{"nope", "a"}), Errc::not_found);
  state_.apply(5, view(registered("db")));
  EXPECT_EQ(refusal(RemoveFork{"db", "a"}), Errc::not_found);
}

TEST_F(DecideTest, UnforkOfAForkTheReconcilerLostIsANoOpNamingThatSeq) {
  state_.apply(5, view(correction(EventType::fork_lost, "web", "a", Reason::instance_missing)));
  auto r = run(RemoveFork{"web", "a"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->events.empty());
  EXPECT_EQ(r->already_at, 5u);
}

TEST_F(DecideTest, RetireWithLiveForksIsInUseWithTheCount) {
  auto r = run(RetireTemplate{"web"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::in_use);
  EXPECT_NE(r.error().message.find("1 live fork"), std::string::npos);
}

TEST_F(DecideTest, RetireOfRetiredOrUnknownIsRefused) {
  EXPECT_EQ(refusal(RetireTemplate{"old"}), Errc::retired);
  EXPECT_EQ(refusal(RetireTemplate{"nope"}), Errc::not_found);
}

TEST_F(DecideTest, RetireOfAnIdleTemplateIsDeleted) {
  state_.apply(5, view(removed("web", "a")));
  auto r = run(RetireTemplate{"web"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->events[0].type, EventType::template_retired);
  EXPECT_EQ(r->events[0].reason, Reason::deleted);
}

TEST_F(DecideTest, InvalidIdsAndNamesAreInvalidArgument) {
  EXPECT_EQ(refusal(AddFork{"web", "../x"}), Errc::invalid_argument);
  EXPECT_EQ(refusal(AddFork{"", "b"}), Errc::invalid_argument);
  EXPECT_EQ(refusal(RemoveFork{"web", std::string(65, 'x')}), Errc::invalid_argument);
  EXPECT_EQ(refusal(RegisterTemplate{"n", "has space", ""}), Errc::invalid_argument);
  EXPECT_EQ(refusal(RegisterTemplate{"n", "s", "bad\nname"}), Errc::invalid_argument);
  EXPECT_EQ(refusal(RetireTemplate{".."}), Errc::invalid_argument);
}

}  // namespace
}  // namespace fj
