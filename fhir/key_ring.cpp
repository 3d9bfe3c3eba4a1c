#include "fhir/key_ring.hpp"

#include "storage/durable_file.hpp"

#include <openssl/crypto.h>

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace visitd::fhir {

using domain::errc;
using domain::make_error;
namespace fs = std::filesystem;

const signing_key* tenant_keys::signer(jws_alg alg) const noexcept {
  // The current generation's keys come first (see load order below).
  for (const auto& k : keys)
    if (k.alg() == alg) return &k;
  return nullptr;
}

std::string tenant_keys::jwks() const {
  std::vector<const signing_key*> all;
  all.reserve(keys.size());
  for (const auto& k : keys) all.push_back(&k);
  return jwks_json(all);
}

namespace {

constexpr std::array<jws_alg, 2> box_algs{jws_alg::rs384, jws_alg::es384};

struct key_file {
  std::uint32_t generation = 0;
  jws_alg alg = jws_alg::rs384;
  std::string kid;
  fs::path path;
};

// `<generation>-<alg>-<kid>.pem`; anything else in the directory is not ours and is left alone.
std::optional<key_file> parse_key_file_name(const fs::path& path) {
  if (path.extension() != ".pem") return std::nullopt;
  auto stem = path.stem().string();
  auto first = stem.find('-');
  if (first == std::string::npos) return std::nullopt;
  auto second = stem.find('-', first + 1);
  if (second == std::string::npos) return std::nullopt;
  key_file f;
  try {
    auto generation = std::stoul(stem.substr(0, first));
    if (generation == 0 || generation > 1'000'000) return std::nullopt;
    f.generation = static_cast<std::uint32_t>(generation);
  } catch (...) {
    return std::nullopt;
  }
  auto alg = parse_jws_alg(stem.substr(first + 1, second - first - 1));
  if (!alg || (*alg != jws_alg::rs384 && *alg != jws_alg::es384)) return std::nullopt;
  f.alg = *alg;
  f.kid = stem.substr(second + 1);
  f.path = path;
  return f;
}

class file_key_ring final : public key_ring {
public:
  explicit file_key_ring(fs::path dir) : dir_(std::move(dir)), worker_([this] { work(); }) {}

  ~file_key_ring() override { stop(); }

  void stop() override {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  file_key_ring(const file_key_ring&) = delete;
  file_key_ring& operator=(const file_key_ring&) = delete;

  domain::result<void> load() {
    std::error_code ec;
    for (const auto& tenant_dir : fs::directory_iterator(dir_, ec)) {
      if (!tenant_dir.is_directory()) continue;
      auto tenant = domain::tenant_id::parse(tenant_dir.path().filename().string());
      if (!tenant) continue;
      auto keys = load_tenant(tenant_dir.path());
      if (!keys) return std::move(keys).err();
      std::lock_guard lock{mutex_};
      if (!keys->keys.empty()) loaded_.emplace(tenant->str(), std::move(*keys));
    }
    if (ec) return make_error(errc::storage_failure, "cannot list " + dir_.string());
    return {};
  }

  void keys_of(const domain::tenant_id& tenant, reply done) override {
    {
      std::unique_lock lock{mutex_};
      auto it = loaded_.find(tenant.str());
      if (it != loaded_.end()) {
        auto copy = it->second;
        lock.unlock();
        return done(std::move(copy));
      }
    }
    enqueue(tenant, false, std::move(done));
  }

  void rotate(const domain::tenant_id& tenant, reply done) override {
    enqueue(tenant, true, std::move(done));
  }

private:
  struct job {
    domain::tenant_id tenant;
    bool rotate = false;
    reply done;
  };

  void enqueue(const domain::tenant_id& tenant, bool rotate, reply done) {
    // Ids allow dots; these two would name a directory that is not the tenant's own.
    if (tenant.str() == "." || tenant.str() == "..")
      return done(make_error(errc::invalid_argument, "tenant_id: not usable as a key directory"));
    {
      std::lock_guard lock{mutex_};
      if (!stopping_) {
        jobs_.push_back({tenant, rotate, std::move(done)});
        wake_.notify_one();
        return;
      }
    }
    done(make_error(errc::unavailable, "the key ring is shutting down"));
  }

  void work() {
    for (;;) {
      job next;
      {
        std::unique_lock lock{mutex_};
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        if (stopping_) {
          // Answer what is left rather than leave callers waiting for ever.
          auto left = std::move(jobs_);
          jobs_.clear();
          lock.unlock();
          for (auto& j : left) j.done(make_error(errc::unavailable, "the key ring stopped"));
          return;
        }
        next = std::move(jobs_.front());
        jobs_.pop_front();
      }
      next.done(run(next));
    }
  }

  // Runs on the worker only, so two generations of one tenant never race.
  domain::result<tenant_keys> run(const job& j) {
    std::optional<tenant_keys> current;
    {
      std::lock_guard lock{mutex_};
      auto it = loaded_.find(j.tenant.str());
      if (it != loaded_.end()) current = it->second;
    }
    if (current && !j.rotate) return *current;  // made by an earlier job
    auto next_generation = current ? current->generation + 1 : 1;
    auto made = make_generation(j.tenant, next_generation);
    if (!made) return std::move(made).err();
    tenant_keys keys{next_generation, std::move(*made)};
    if (current) {
      // current->keys is newest first, so the cut below keeps exactly the generation before.
      for (const auto& k : current->keys) keys.keys.push_back(k);
      // Keep the previous generation only: delete what came before it.
      if (auto removed = remove_before(j.tenant, current->generation); !removed)
        return std::move(removed).err();
      if (keys.keys.size() > box_algs.size() * 2)
        keys.keys.erase(keys.keys.begin() + static_cast<std::ptrdiff_t>(box_algs.size() * 2),
                        keys.keys.end());
    }
    {
      std::lock_guard lock{mutex_};
      loaded_[j.tenant.str()] = keys;
    }
    return keys;
  }

  domain::result<std::vector<signing_key>> make_generation(const domain::tenant_id& tenant,
                                                           std::uint32_t generation) {
    auto tenant_dir = dir_ / tenant.str();
    std::error_code ec;
    fs::create_directories(tenant_dir, ec);
    fs::permissions(tenant_dir, fs::perms::owner_all, ec);
    if (ec) return make_error(errc::storage_failure, "cannot create " + tenant_dir.string());
    std::vector<signing_key> keys;
    for (auto alg : box_algs) {
      auto key = generate_signing_key(alg);
      if (!key) return std::move(key).err();
      auto pem = key->to_pem();
      if (!pem) return std::move(pem).err();
      auto name =
        std::to_string(generation) + "-" + std::string{to_string(alg)} + "-" + key->kid() + ".pem";
      auto written = storage::write_file_atomically(tenant_dir / name, *pem, 0600);
      OPENSSL_cleanse(pem->data(), pem->size());
      if (!written) return std::move(written).err();
      keys.push_back(std::move(*key));
    }
    return keys;
  }

  domain::result<void> remove_before(const domain::tenant_id& tenant, std::uint32_t keep_from) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ / tenant.str(), ec)) {
      auto f = parse_key_file_name(entry.path());
      if (f && f->generation < keep_from) fs::remove(f->path, ec);
      if (ec) return make_error(errc::storage_failure, "cannot remove " + entry.path().string());
    }
    return {};
  }

  static domain::result<tenant_keys> load_tenant(const fs::path& tenant_dir) {
    std::vector<key_file> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(tenant_dir, ec))
      if (auto f = parse_key_file_name(entry.path())) files.push_back(std::move(*f));
    if (ec) return make_error(errc::storage_failure, "cannot list " + tenant_dir.string());
    // Newest generation first: its keys sign; the one before is only published.
    std::sort(files.begin(), files.end(), [](const key_file& a, const key_file& b) {
      return a.generation != b.generation ? a.generation > b.generation : a.alg < b.alg;
    });
    tenant_keys keys;
    if (files.empty()) return keys;
    keys.generation = files.front().generation;
    for (const auto& f : files) {
      if (f.generation + 1 < keys.generation) continue;  // left by an interrupted rotation
      // A PEM key of RSA 3072 is about 2.5 KB; anything far larger is not one of ours.
      auto pem = storage::read_private_file(f.path, std::size_t{64} * 1024);
      if (!pem) return std::move(pem).err();
      auto key = signing_key_from_pem(*pem, f.alg, f.kid);
      OPENSSL_cleanse(pem->data(), pem->size());
      if (!key)
        return make_error(errc::storage_failure,
                          f.path.string() + " is not a usable key: " + key.err().message);
      keys.keys.push_back(std::move(*key));
    }
    return keys;
  }

  fs::path dir_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<job> jobs_;
  std::map<std::string, tenant_keys, std::less<>> loaded_;
  std::thread worker_;  // last: it starts in the constructor and uses the members above
};

}  // namespace

domain::result<std::shared_ptr<key_ring>> open_key_ring(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec) return make_error(errc::storage_failure, "cannot create " + dir.string());
  auto ring = std::make_shared<file_key_ring>(dir);
  if (auto loaded = ring->load(); !loaded) return std::move(loaded).err();
  return std::shared_ptr<key_ring>{std::move(ring)};
}

}  // namespace visitd::fhir
