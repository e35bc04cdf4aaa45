// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "canary/share.hpp"

namespace canary {
namespace {

TEST(Share, AcceptsUpToTwoDecimalsFromZeroToAHundred) {
  EXPECT_EQ(*parse_share_percent("0"), 0u);
  EXPECT_EQ(*parse_share_percent("5"), 500u);
  EXPECT_EQ(*parse_share_percent("5.2"), 520u);
  EXPECT_EQ(*parse_share_percent("5.25"), 525u);
  EXPECT_EQ(*parse_share_percent("0.01"), 1u);
  EXPECT_EQ(*parse_share_percent("100"), 10000u);
  EXPECT_EQ(*parse_share_percent("100.00"), 10000u);
  EXPECT_EQ(*parse_share_percent("007"), 700u);
}

TEST(Share, RefusesEverythingElseWithAReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"-1", "not a number"},        {"101", "above 100"},   {"100.01", "above 100"},
      {"abc", "not a number"},       {"nan", "not a number"}, {"1e400", "not a number"},
      {"5.123", "two decimals"},     {"", "empty"},           {" 5", "not a number"},
      {"+5", "not a number"},        {"5.", "not a number"},  {".5", "not a number"},
      {"0x10", "not a number"},      {"inf", "not a number"}, {"99999999999999999999", "above 100"},
  };
  for (const auto& [text, why] : cases) {
    auto r = parse_share_percent(text);
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << text << ": " << r.status().message();
  }
}

TEST(Share, FormatsTheShortestExactDecimal) {
  EXPECT_EQ(format_share_percent(500), "5");
  EXPECT_EQ(format_share_percent(525), "5.25");
  EXPECT_EQ(format_share_percent(1250), "12.5");
  EXPECT_EQ(format_share_percent(1), "0.01");
  EXPECT_EQ(format_share_percent(10000), "100");
}

TEST(Share, ParsesStrictUnsignedIntegers) {
  EXPECT_EQ(*parse_u64("18446744073709551615", "salt"), UINT64_MAX);
  EXPECT_FALSE(parse_u64("18446744073709551616", "salt"));
  EXPECT_FALSE(parse_u64("-1", "salt"));
  EXPECT_FALSE(parse_u64("0x10", "salt"));
  EXPECT_FALSE(parse_u64("", "salt"));
  EXPECT_FALSE(parse_u64("1 ", "salt"));
}

}  // namespace
}  // namespace canary
