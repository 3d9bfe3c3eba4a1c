#pragma once

namespace visitd::domain {

/// Combines lambdas into one visitor for std::visit.
template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
// Spelled out for compilers without C++20 aggregate deduction (clang-tidy's clang 14).
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

}  // namespace visitd::domain
