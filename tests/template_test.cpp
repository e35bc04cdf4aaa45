// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "canary/config_edit.hpp"
#include "canary/endpoint_template.hpp"

namespace canary {
namespace {

ConfigData config_with(const std::vector<std::string>& templates) {
  InitialConfig init;
  init.endpoints = templates;
  auto c = make_initial_config(init, kMaxEndpoints);
  EXPECT_TRUE(c) << c.status().message();
  return *c;
}

EndpointId match(const std::vector<std::string>& templates, std::string_view path) {
  static TemplateMatcher matcher;  // 40 KB: not on the stack
  matcher.compile(config_with(templates));
  return matcher.match(path);
}

TEST(Template, NormalizationDropsOneTrailingSlash) {
  EXPECT_EQ(*normalize_template("/a/b/"), "/a/b");
  EXPECT_EQ(*normalize_template("/"), "/");
  EXPECT_EQ(*normalize_template("/a/{id}"), "/a/{id}");
}

TEST(Template, BadTemplatesAreRefusedWithTheirProblemNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {std::string(10240, 'a'), "10240 bytes"},
      {"no-slash", "must start with '/'"},
      {"/a//b", "empty segment"},
      {"/a/{}", "malformed"},
      {"/a/{1x}", "malformed"},
      {"/a/{id", "malformed"},
      {"/a/b c", "not allowed"},
      {"/a?b", "not allowed"},
      {"/a/x{id}", "not allowed"},
      {"/../../etc/passwd", "'.' or '..' segment"},
      {"/api/./v2", "'.' or '..' segment"},
      {"/api/v2/..", "'.' or '..' segment"},
  };
  for (const auto& [text, why] : cases) {
    auto r = normalize_template(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.status().code(), Errc::invalid_argument);
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  }
  std::string deep;
  for (int i = 0; i < 33; ++i) deep += "/s";
  EXPECT_FALSE(normalize_template(deep));
  // Dots inside a segment are a name like any other.
  EXPECT_TRUE(normalize_template("/files/a..b/.well-known/v1.2"));
}

TEST(Template, ShapesIgnoreParameterNames) {
  EXPECT_EQ(template_shape("/a/{id}/b"), template_shape("/a/{other}/b"));
  EXPECT_NE(template_shape("/a/{id}/b"), template_shape("/a/x/b"));
}

TEST(Template, ALiteralSegmentBeatsAParameterFromTheLeft) {
  const std::vector<std::string> t = {"/c/{id}/x", "/c/start/{y}", "/c/{id}/{z}", "/c/start/x"};
  EXPECT_EQ(match(t, "/c/start/x"), 4);
  EXPECT_EQ(match(t, "/c/start/q"), 2);
  EXPECT_EQ(match(t, "/c/other/x"), 1);
  EXPECT_EQ(match(t, "/c/other/q"), 3);
  EXPECT_EQ(match(t, "/c/other"), kOtherEndpoint);  // segment counts must agree
}

TEST(Template, RegistrationOrderDoesNotChangeTheWinner) {
  EXPECT_EQ(match({"/a/{id}", "/a/start"}, "/a/start"), 2);
  EXPECT_EQ(match({"/a/start", "/a/{id}"}, "/a/start"), 1);
}

TEST(Template, RootAndQueryAndFragmentHandling) {
  const std::vector<std::string> t = {"/", "/a"};
  EXPECT_EQ(match(t, "/"), 1);
  EXPECT_EQ(match(t, "/?q=1"), 1);
  EXPECT_EQ(match(t, "/a#frag"), 2);
  EXPECT_EQ(match(t, "/a/"), 2);
  EXPECT_EQ(match(t, "//"), 1);  // "/" with a trailing slash
  EXPECT_EQ(match(t, "//a"), kOtherEndpoint);
}

TEST(Template, AddingTheSameShapeTwiceKeepsOneIdAndAFullRegistryRefuses) {
  auto c = config_with({"/x/{a}"});
  EXPECT_TRUE(add_endpoint(c, "/x/{b}", kMaxEndpoints).ok());
  EXPECT_EQ(c.endpoint_count, 2u);
  auto small = config_with({});
  EXPECT_TRUE(add_endpoint(small, "/one", 2).ok());
  EXPECT_EQ(add_endpoint(small, "/two", 2).code(), Errc::refused);
  EXPECT_EQ(remove_endpoint(small, "/unknown").code(), Errc::invalid_argument);
  EXPECT_EQ(remove_endpoint(small, "other").code(), Errc::invalid_argument);
}

}  // namespace
}  // namespace canary
