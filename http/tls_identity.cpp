#include "http/tls_identity.hpp"

#include "storage/durable_file.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace visitd::http {

using domain::errc;
using domain::make_error;
namespace fs = std::filesystem;

namespace {

template <class T, void (*Free)(T*)>
struct openssl_deleter {
  void operator()(T* p) const { Free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO, BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BIGNUM, BN_free>>;
using ext_ptr =
  std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION, X509_EXTENSION_free>>;

constexpr long validity_seconds = 825L * 24 * 3600;  // the longest browsers accept

domain::error openssl_error(std::string what) {
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    what += ": ";
    what += buffer;
  }
  ERR_clear_error();
  return make_error(errc::internal, std::move(what));
}

bool is_ip_address(const std::string& name) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

domain::result<void> add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ext_ptr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str())};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return openssl_error("adding certificate extension " + value);
  return {};
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

domain::result<std::string> read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return make_error(errc::invalid_argument, "cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Checks the PEM pair parses and that the key belongs to the certificate.
domain::result<void> validate_pair(const tls_identity& id) {
  bio_ptr cert_bio{
    BIO_new_mem_buf(id.certificate_pem.data(), static_cast<int>(id.certificate_pem.size()))};
  x509_ptr cert{PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)};
  if (!cert)
    return make_error(errc::invalid_argument, id.certificate_path + " is not a PEM certificate");
  bio_ptr key_bio{
    BIO_new_mem_buf(id.private_key_pem.data(), static_cast<int>(id.private_key_pem.size()))};
  pkey_ptr key{PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)};
  if (!key)
    return make_error(errc::invalid_argument, "the TLS private key is not a PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return make_error(errc::invalid_argument,
                      "the TLS private key does not match the certificate " + id.certificate_path);
  }
  return {};
}

domain::result<tls_identity> load_pair(const fs::path& cert_path, const fs::path& key_path) {
  auto cert = read_file(cert_path);
  if (!cert) return std::move(cert).err();
  auto key = read_file(key_path);
  if (!key) return std::move(key).err();
  tls_identity id{std::move(*cert), std::move(*key), cert_path.string(), false};
  if (auto ok = validate_pair(id); !ok) return std::move(ok).err();
  return id;
}

}  // namespace

domain::result<tls_identity> make_self_signed_identity(const std::vector<std::string>& names) {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key) return openssl_error("generating an EC P-256 key");

  x509_ptr cert{X509_new()};
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return openssl_error("creating a certificate");

  bn_ptr serial{BN_new()};
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
    return openssl_error("choosing a serial number");

  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity_seconds);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return openssl_error("setting the public key");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("visitd"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("visitd self-signed"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), subject);

  std::string alt_names = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& name : names) {
    if (name.empty() || name == "localhost" || name == "127.0.0.1" || name == "::1") continue;
    alt_names += (is_ip_address(name) ? ",IP:" : ",DNS:") + name;
  }
  // Self-signed and also its own trust anchor (clients pin it), like `openssl req -x509`.
  for (auto [nid, value] :
       {std::pair{NID_basic_constraints, std::string{"critical,CA:TRUE"}},
        std::pair{NID_key_usage, std::string{"critical,digitalSignature,keyCertSign"}},
        std::pair{NID_ext_key_usage, std::string{"serverAuth"}},
        std::pair{NID_subject_key_identifier, std::string{"hash"}},
        std::pair{NID_subject_alt_name, alt_names}})
    if (auto ok = add_extension(cert.get(), nid, value); !ok) return std::move(ok).err();

  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return openssl_error("signing");

  bio_ptr cert_bio{BIO_new(BIO_s_mem())};
  bio_ptr key_bio{BIO_new(BIO_s_mem())};
  if (PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
        1)
    return openssl_error("encoding PEM");
  return tls_identity{bio_to_string(cert_bio.get()), bio_to_string(key_bio.get()), {}, true};
}

domain::result<tls_identity> load_or_create_tls_identity(const tls_identity_options& options) {
  bool has_cert = !options.certificate_path.empty();
  bool has_key = !options.private_key_path.empty();
  if (has_cert != has_key)
    return make_error(errc::invalid_argument,
                      "tls-cert and tls-key must be set together (or both left empty to use a "
                      "generated self-signed certificate)");
  if (has_cert) return load_pair(options.certificate_path, options.private_key_path);

  fs::path dir{options.generated_dir};
  auto cert_path = dir / "cert.pem";
  auto key_path = dir / "key.pem";
  bool cert_exists = fs::exists(cert_path);
  bool key_exists = fs::exists(key_path);
  if (cert_exists && key_exists) return load_pair(cert_path, key_path);
  if (cert_exists || key_exists)
    return make_error(errc::invalid_argument, "only one of " + cert_path.string() + " and " +
                                                key_path.string() +
                                                " exists; remove it to have a new pair generated");

  auto id = make_self_signed_identity(options.extra_names);
  if (!id) return id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::storage_failure, "cannot create " + dir.string());
  fs::permissions(dir, fs::perms::owner_all, ec);
  // Key first: a crash between the two leaves "key only", which is reported, never half-used.
  if (auto ok = storage::write_file_atomically(key_path, id->private_key_pem, 0600); !ok)
    return std::move(ok).err();
  if (auto ok = storage::write_file_atomically(cert_path, id->certificate_pem, 0644); !ok)
    return std::move(ok).err();
  id->certificate_path = cert_path.string();
  return id;
}

}  // namespace visitd::http
