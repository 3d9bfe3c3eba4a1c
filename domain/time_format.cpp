#include "domain/time_format.hpp"

#include <algorithm>
#include <cstdio>

namespace visitd::domain {

namespace {

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::string format_rfc3339(timestamp t) {
  using namespace std::chrono;
  const auto min = sys_days{year{0} / January / 1};
  const auto max = sys_days{year{9999} / December / 31} + days{1} - microseconds{1};
  t = std::clamp(t, timestamp{min}, timestamp{max});
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> time{t - day};
  char buf[40];
  const auto micros = time.subseconds().count();
  int n = std::snprintf(
    buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ld", int{ymd.year()}, unsigned{ymd.month()},
    unsigned{ymd.day()}, static_cast<long>(time.hours().count()),
    static_cast<long>(time.minutes().count()), static_cast<long>(time.seconds().count()));
  if (micros != 0)
    n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%06ld",
                       static_cast<long>(micros));
  std::string out{buf, static_cast<std::size_t>(n)};
  out.push_back('Z');
  return out;
}

result<timestamp> parse_rfc3339(std::string_view s, std::string_view field) {
  using namespace std::chrono;
  auto bad = [&] {
    return make_error(
      errc::invalid_argument,
      std::string{field} + ": expected an RFC 3339 time such as 2026-11-25T09:30:00Z");
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec))
    return bad();
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return bad();
  std::size_t at = 19;
  long long micros = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    std::size_t start = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    const auto count = at - start;
    if (count == 0 || count > 9) return bad();
    for (std::size_t i = 0; i < 6; ++i)
      micros = micros * 10 + (start + i < at ? s[start + i] - '0' : 0);
  }
  minutes offset{0};
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !digits(s, at + 4, 2, om) || oh > 23 || om > 59)
      return bad();
    offset = minutes{oh * 60 + om} * (s[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return bad();
  }
  if (at != s.size()) return bad();
  return timestamp{sys_days{ymd}} + hours{h} + minutes{mi} + seconds{sec} + microseconds{micros} -
         offset;
}

}  // namespace visitd::domain
