#include "auth/join_links.hpp"

#include "auth/secret_key.hpp"
#include "tests/unit/storage/store_fixture.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace visitd::auth {
namespace {

using storage::testing::at;
using storage::testing::id;

domain::join_grant grant(domain::participant_role role = domain::participant_role::patient) {
  auto g = domain::make_join_grant(id<domain::visit_id>("visit-42"), role,
                                   id<domain::join_id>("j-7f3a"), at(3600));
  EXPECT_TRUE(g) << g.err().message;
  return *g;
}

TEST(join_links, a_sealed_link_opens_to_its_grant_until_it_expires) {
  auto key = secret_key::generate();
  auto token = seal_join_link(key, grant());
  auto opened = open_join_link(key, token, at(0));
  ASSERT_TRUE(opened) << opened.err().message;
  EXPECT_EQ(*opened, grant());

  auto expired = open_join_link(key, token, at(3600));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.err().code, domain::errc::unauthenticated);
  EXPECT_EQ(expired.err().message, "join link has expired");
}

TEST(join_links, a_link_is_opaque_and_differs_each_time) {
  auto key = secret_key::generate();
  auto a = seal_join_link(key, grant());
  auto b = seal_join_link(key, grant());
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find("visit-42"), std::string::npos);
  EXPECT_EQ(a.find("j-7f3a"), std::string::npos);
  EXPECT_LE(a.size(), max_join_token_chars);
}

TEST(join_links, forged_altered_truncated_and_foreign_links_are_refused) {
  auto key = secret_key::generate();
  auto token = seal_join_link(key, grant());
  auto refused = [&](const std::string& t, const secret_key& k) {
    auto r = open_join_link(k, t, at(0));
    if (r) return false;
    return r.err().code == domain::errc::unauthenticated &&
           r.err().message == "join link is not valid";
  };
  EXPECT_TRUE(refused(token, secret_key::generate())) << "opened with another box's key";
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_TRUE(refused(altered, key)) << "altered at " << i;
  }
  EXPECT_TRUE(refused(token.substr(0, token.size() - 1), key));
  EXPECT_TRUE(refused(token.substr(0, 20), key));
  EXPECT_TRUE(refused("", key));
  EXPECT_TRUE(refused("not base64 !!", key));
  EXPECT_TRUE(refused(std::string(max_join_token_chars + 1, 'A'), key));
}

TEST(join_links, grants_are_for_patients_and_guests_only) {
  auto provider = domain::make_join_grant(
    id<domain::visit_id>("v"), domain::participant_role::provider, id<domain::join_id>("j"), at(1));
  ASSERT_FALSE(provider);
  EXPECT_EQ(provider.err().message.rfind("role:", 0), 0u);
  auto guest = grant(domain::participant_role::guest);
  EXPECT_EQ(domain::decode_join_grant(domain::encode_join_grant(guest)).value(), guest);
  auto bytes = domain::encode_join_grant(guest);
  EXPECT_FALSE(domain::decode_join_grant(bytes + "x")) << "trailing bytes";
  EXPECT_FALSE(domain::decode_join_grant(bytes.substr(0, bytes.size() - 1)));
  bytes[0] = 9;
  EXPECT_FALSE(domain::decode_join_grant(bytes)) << "unknown version";
}

TEST(secret_keys, made_once_then_read_back_and_refused_when_unsafe) {
  storage::testing::temp_dir dir{"visitd-key"};
  std::filesystem::create_directories(dir.path());
  auto path = std::filesystem::path{dir.path()} / "join-link.key";
  auto made = load_or_create_key(path);
  ASSERT_TRUE(made) << made.err().message;
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_size, 32);
  auto read = load_or_create_key(path);
  ASSERT_TRUE(read);
  // The same key: a link sealed before a restart opens after it.
  EXPECT_TRUE(open_join_link(*read, seal_join_link(*made, grant()), at(0)));

  ::chmod(path.c_str(), 0644);
  auto loose = load_or_create_key(path);
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.err().message.find("chmod 600"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  std::ofstream{path, std::ios::app} << "x";
  auto wrong_size = load_or_create_key(path);
  ASSERT_FALSE(wrong_size);
  EXPECT_NE(wrong_size.err().message.find("32-byte"), std::string::npos);
}

}  // namespace
}  // namespace visitd::auth
