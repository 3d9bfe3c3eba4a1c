#include "domain/ids.hpp"

namespace visitd::domain {

namespace detail {

namespace {

bool is_id_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

result<void> validate_id(std::string_view text, std::string_view field, std::size_t max_length,
                         bool allow_slash) {
  if (text.empty())
    return make_error(errc::invalid_argument, std::string{field} + " must not be empty");
  if (text.size() > max_length)
    return make_error(errc::invalid_argument, std::string{field} + " is longer than " +
                                                std::to_string(max_length) + " characters");
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_id_char(c)) continue;
    if (c == '/' && allow_slash) {
      // Empty segments would make `Practitioner//1` and `Practitioner/1` look alike.
      if (i == 0 || i + 1 == text.size() || text[i + 1] == '/')
        return make_error(errc::invalid_argument,
                          std::string{field} + " must not have empty segments around '/'");
      continue;
    }
    return make_error(errc::invalid_argument,
                      std::string{field} + " contains a character outside " +
                        (allow_slash ? "[A-Za-z0-9._/-]" : "[A-Za-z0-9._-]") + " at offset " +
                        std::to_string(i));
  }
  return {};
}

}  // namespace detail

result<revision_number> revision_number::make(std::uint32_t value) {
  if (value == 0) return make_error(errc::invalid_argument, "revision_number must be at least 1");
  return revision_number{value};
}

}  // namespace visitd::domain
