#include "pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace visitd::test_ehr {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

[[noreturn]] void fail(const std::string& what) {
  std::string message = "test EHR PKI: " + what;
  while (auto code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    message.append(": ").append(buffer);
  }
  throw std::runtime_error(message);
}

pkey_ptr p256_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key) fail("EC key generation");
  return key;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (!ext) fail(std::string{"extension "} + value);
  int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) fail(std::string{"adding extension "} + value);
}

/// A v3 certificate for `key` named CN=`common_name`, its validity and a random serial set.
x509_ptr new_certificate(EVP_PKEY* key, const char* common_name) {
  x509_ptr cert{X509_new()};
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) fail("X509_new");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("serial");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()))) fail("serial");
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  if (X509_set_pubkey(cert.get(), key) != 1) fail("X509_set_pubkey");
  return cert;
}

std::string certificate_pem(X509* cert) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("PEM_write_bio_X509");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::string private_key_pem(EVP_PKEY* key) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

tls_material make_tls_material() {
  auto ca_key = p256_key();
  auto ca = new_certificate(ca_key.get(), "visitd test EHR CA");
  X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.get(), ca.get(), nullptr, nullptr, 0);
  add_extension(ca.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(ca.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca.get(), &ctx, NID_subject_key_identifier, "hash");
  if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) <= 0) fail("signing the CA");

  auto leaf_key = p256_key();
  auto leaf = new_certificate(leaf_key.get(), "localhost");
  X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca.get()));
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca.get(), leaf.get(), nullptr, nullptr, 0);
  add_extension(leaf.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(leaf.get(), &ctx, NID_key_usage, "critical,digitalSignature");
  add_extension(leaf.get(), &ctx, NID_ext_key_usage, "serverAuth");
  add_extension(leaf.get(), &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  add_extension(leaf.get(), &ctx, NID_subject_key_identifier, "hash");
  add_extension(leaf.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) <= 0) fail("signing the leaf");

  return {certificate_pem(ca.get()), certificate_pem(leaf.get()), private_key_pem(leaf_key.get())};
}

}  // namespace visitd::test_ehr
