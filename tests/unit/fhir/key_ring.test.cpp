#include "fhir/key_ring.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>

namespace visitd::fhir {
namespace {

namespace fs = std::filesystem;

class temp_dir {
public:
  temp_dir() {
    std::random_device rd;
    path_ =
      fs::temp_directory_path() / ("visitd-keys-" + std::to_string(rd()) + std::to_string(rd()));
  }
  ~temp_dir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

domain::tenant_id tenant(std::string_view id) {
  return domain::tenant_id::parse(id).value();
}

domain::result<tenant_keys> wait(const std::function<void(key_ring::reply)>& call) {
  std::promise<domain::result<tenant_keys>> promise;
  auto future = promise.get_future();
  call([&promise](domain::result<tenant_keys> r) { promise.set_value(std::move(r)); });
  return future.get();
}

std::set<std::string> kids_of(const tenant_keys& keys) {
  std::set<std::string> out;
  for (const auto& k : keys.keys) out.insert(k.kid());
  return out;
}

TEST(key_ring, a_tenants_keys_are_made_once_stored_and_loaded_again_after_a_restart) {
  temp_dir dir;
  std::set<std::string> first_kids;
  std::string jwks;
  {
    auto ring = open_key_ring(dir.path()).value();
    auto keys = wait([&](auto done) { ring->keys_of(tenant("acme"), done); });
    ASSERT_TRUE(keys) << keys.err().message;
    EXPECT_EQ(keys->generation, 1U);
    ASSERT_EQ(keys->keys.size(), 2U);
    ASSERT_NE(keys->signer(jws_alg::rs384), nullptr);
    ASSERT_NE(keys->signer(jws_alg::es384), nullptr);
    first_kids = kids_of(*keys);
    jwks = keys->jwks();
    auto same = wait([&](auto done) { ring->keys_of(tenant("acme"), done); });
    EXPECT_EQ(kids_of(*same), first_kids) << "made once";
  }
  for (const auto& f : fs::directory_iterator(dir.path() / "acme")) {
    struct stat info {};
    ASSERT_EQ(::stat(f.path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777U, 0600U) << f.path();
  }
  auto reopened = open_key_ring(dir.path()).value();
  auto loaded = wait([&](auto done) { reopened->keys_of(tenant("acme"), done); });
  ASSERT_TRUE(loaded) << loaded.err().message;
  EXPECT_EQ(kids_of(*loaded), first_kids);
  EXPECT_EQ(loaded->jwks(), jwks);
}

TEST(key_ring, rotation_signs_with_new_keys_and_keeps_only_the_previous_generation_published) {
  temp_dir dir;
  auto ring = open_key_ring(dir.path()).value();
  auto first = wait([&](auto done) { ring->keys_of(tenant("acme"), done); }).value();
  auto second = wait([&](auto done) { ring->rotate(tenant("acme"), done); }).value();
  EXPECT_EQ(second.generation, 2U);
  ASSERT_EQ(second.keys.size(), 4U);
  EXPECT_NE(second.signer(jws_alg::rs384)->kid(), first.signer(jws_alg::rs384)->kid());
  for (const auto& kid : kids_of(first))
    EXPECT_TRUE(kids_of(second).contains(kid)) << "the previous generation stays published";
  auto third = wait([&](auto done) { ring->rotate(tenant("acme"), done); }).value();
  ASSERT_EQ(third.keys.size(), 4U);
  for (const auto& kid : kids_of(first)) EXPECT_FALSE(kids_of(third).contains(kid));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path() / "acme")) ++files;
  EXPECT_EQ(files, 4U) << "generation 1 is deleted";
  auto reopened = open_key_ring(dir.path()).value();
  auto loaded = wait([&](auto done) { reopened->keys_of(tenant("acme"), done); }).value();
  EXPECT_EQ(loaded.generation, 3U);
  EXPECT_EQ(kids_of(loaded), kids_of(third));
  EXPECT_EQ(loaded.signer(jws_alg::es384)->kid(), third.signer(jws_alg::es384)->kid());
}

TEST(key_ring, a_key_file_that_does_not_match_its_name_or_is_readable_by_others_stops_the_open) {
  temp_dir dir;
  {
    auto ring = open_key_ring(dir.path()).value();
    ASSERT_TRUE(wait([&](auto done) { ring->keys_of(tenant("acme"), done); }));
  }
  fs::path es_file;
  fs::path rs_file;
  for (const auto& f : fs::directory_iterator(dir.path() / "acme")) {
    if (f.path().filename().string().find("-ES384-") != std::string::npos) es_file = f.path();
    if (f.path().filename().string().find("-RS384-") != std::string::npos) rs_file = f.path();
  }
  ASSERT_FALSE(es_file.empty());
  fs::permissions(es_file, fs::perms::group_read, fs::perm_options::add);
  auto loose = open_key_ring(dir.path());
  ASSERT_FALSE(loose);
  EXPECT_EQ(loose.err().code, domain::errc::storage_failure);
  EXPECT_NE(loose.err().message.find("chmod 600"), std::string::npos) << loose.err().message;
  fs::permissions(es_file, fs::perms::group_read, fs::perm_options::remove);
  // The ES384 key's content under the RS384 file's name: wrong algorithm and kid.
  fs::copy_file(es_file, rs_file, fs::copy_options::overwrite_existing);
  auto swapped = open_key_ring(dir.path());
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.err().code, domain::errc::storage_failure);
}

TEST(key_ring, ids_that_name_no_directory_of_their_own_are_refused) {
  temp_dir dir;
  auto ring = open_key_ring(dir.path()).value();
  auto dotdot = wait([&](auto done) { ring->keys_of(tenant(".."), done); });
  ASSERT_FALSE(dotdot);
  EXPECT_EQ(dotdot.err().code, domain::errc::invalid_argument);
  EXPECT_FALSE(fs::exists(dir.path().parent_path() / "0-RS384"));
}

}  // namespace
}  // namespace visitd::fhir
