#pragma once
// The only error-propagation macros in Runnel. Both evaluate their expression exactly once.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RUNNEL_STATUS_CONCAT_INNER_(a, b) a##b
#define RUNNEL_STATUS_CONCAT_(a, b) RUNNEL_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RUNNEL_RETURN_IF_ERROR(expr)                                   \
  do {                                                                 \
    if (::absl::Status runnel_status_ = (expr); !runnel_status_.ok()) { \
      return runnel_status_;                                           \
    }                                                                  \
  } while (false)

// `lhs` = the value of `rexpr` (an absl::StatusOr<T>), or returns its status from the enclosing
// function. `lhs` may be a declaration: RUNNEL_ASSIGN_OR_RETURN(auto x, Parse(s));
#define RUNNEL_ASSIGN_OR_RETURN(lhs, rexpr) \
  RUNNEL_ASSIGN_OR_RETURN_IMPL_(RUNNEL_STATUS_CONCAT_(runnel_statusor_, __LINE__), lhs, rexpr)

#define RUNNEL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) {                                     \
    return std::move(statusor).status();                    \
  }                                                         \
  lhs = *std::move(statusor)
