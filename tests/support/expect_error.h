#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace shears::testing {

/// Runs `fn` and passes when it throws `ErrorType` (or a type derived from it) whose what()
/// contains `substring`. A failure says what happened instead: no exception, another type, or
/// the full message that lacks the substring.
template <typename ErrorType, typename Fn>
::testing::AssertionResult throws_with_message(Fn&& fn, const std::string& substring) {
  try {
    fn();
  } catch (const ErrorType& e) {
    const std::string message = e.what();
    if (message.find(substring) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "the message lacks \"" << substring << "\"; it is:\n  " << message;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure()
           << "threw a different exception type; its message:\n  " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw something that is not a std::exception";
  }
  return ::testing::AssertionFailure() << "threw nothing";
}

}  // namespace shears::testing

/// EXPECT that `statement` throws `ErrorType` whose what() contains `substring`.
#define EXPECT_THROW_MSG(statement, ErrorType, substring)                                       \
  EXPECT_TRUE(::shears::testing::throws_with_message<ErrorType>([&] { statement; }, substring)) \
      << "statement: " #statement << "\n  expected: " #ErrorType

/// ASSERT form of EXPECT_THROW_MSG.
#define ASSERT_THROW_MSG(statement, ErrorType, substring)                                       \
  ASSERT_TRUE(::shears::testing::throws_with_message<ErrorType>([&] { statement; }, substring)) \
      << "statement: " #statement << "\n  expected: " #ErrorType
