// Helpers for job-parser tests: parse YAML text, find errors by position and phrases.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "jobs/job_parser.h"

namespace segflow::testing_util {

// Every test file name is absolute so that resolved paths are predictable.
inline constexpr char kTestFile[] = "/srv/jobs/test.yaml";

inline JobParseResult Parse(const std::string& yaml) {
  return ParseJobText(yaml, kTestFile);
}

// A valid job whose only segment's condition is `cond`, written on line 6 from column 11.
inline std::string WithCondition(std::string_view cond) {
  return "job: t\n"
         "log: log\n"
         "source: {topics: [events]}\n"
         "segments:\n"
         "  - id: s\n"
         "    when: " +
         std::string(cond) + "\n";
}
inline constexpr int kCondLine = 6;
// Column (1-based) of the first occurrence of `needle` in a condition passed to WithCondition.
inline int CondCol(std::string_view cond, std::string_view needle) {
  size_t at = cond.find(needle);
  EXPECT_NE(at, std::string_view::npos) << needle;
  return 11 + static_cast<int>(at);
}

inline std::string Describe(const JobParseResult& r) {
  return r.errors.empty() ? std::string("(no errors)") : r.ErrorText();
}

// The error is at line:column and its message contains every phrase.
inline ::testing::AssertionResult ErrorIs(const JobError& e, int line, int column,
                                          std::initializer_list<std::string_view> phrases) {
  if (e.line != line || e.column != column) {
    return ::testing::AssertionFailure()
           << "expected error at " << line << ":" << column << ", got " << e.ToString();
  }
  for (std::string_view p : phrases) {
    if (e.message.find(p) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks \"" << p << "\": " << e.ToString();
    }
  }
  return ::testing::AssertionSuccess();
}

// The file has exactly one error, at line:column, containing every phrase.
inline ::testing::AssertionResult OnlyError(const JobParseResult& r, int line, int column,
                                            std::initializer_list<std::string_view> phrases) {
  if (r.errors.size() != 1) {
    return ::testing::AssertionFailure()
           << "expected exactly one error, got " << r.errors.size() << ":\n"
           << Describe(r);
  }
  return ErrorIs(r.errors[0], line, column, phrases);
}

// Some error of the file is at line:column and contains every phrase.
inline ::testing::AssertionResult HasError(const JobParseResult& r, int line, int column,
                                           std::initializer_list<std::string_view> phrases) {
  for (const JobError& e : r.errors) {
    if (ErrorIs(e, line, column, phrases)) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "no error at " << line << ":" << column << " with the phrases among:\n"
         << Describe(r);
}

}  // namespace segflow::testing_util
