#include "service/flag_types.h"

#include "gtest/gtest.h"

namespace chat {
namespace {

TEST(ByteSizeFlagTest, TakesBytesAndBinaryUnits) {
  ByteSize size;
  std::string error;
  ASSERT_TRUE(AbslParseFlag("1048576", &size, &error));
  EXPECT_EQ(size.bytes, 1048576u);
  ASSERT_TRUE(AbslParseFlag("256MiB", &size, &error));
  EXPECT_EQ(size.bytes, 256u << 20);
  ASSERT_TRUE(AbslParseFlag("2g", &size, &error));
  EXPECT_EQ(size.bytes, 2ull << 30);
  ASSERT_TRUE(AbslParseFlag("512KiB", &size, &error));
  EXPECT_EQ(AbslUnparseFlag(size), "512KiB");
  ASSERT_TRUE(AbslParseFlag("0", &size, &error));
  EXPECT_EQ(size.bytes, 0u);
}

TEST(ByteSizeFlagTest, RefusesWhatIsNotASize) {
  ByteSize size;
  std::string error;
  EXPECT_FALSE(AbslParseFlag("lots", &size, &error));
  EXPECT_NE(error.find("256MiB"), std::string::npos);
  EXPECT_FALSE(AbslParseFlag("MiB", &size, &error));
  EXPECT_FALSE(AbslParseFlag("-5", &size, &error));
  EXPECT_FALSE(AbslParseFlag("99999999999999999999GiB", &size, &error));
}

TEST(AgeFlagTest, TakesDaysAndDurations) {
  Age age;
  std::string error;
  ASSERT_TRUE(AbslParseFlag("7d", &age, &error));
  EXPECT_EQ(age.duration, absl::Hours(24 * 7));
  EXPECT_EQ(AbslUnparseFlag(age), "7d");
  ASSERT_TRUE(AbslParseFlag("90m", &age, &error));
  EXPECT_EQ(age.duration, absl::Minutes(90));
  ASSERT_TRUE(AbslParseFlag("0", &age, &error));
  EXPECT_EQ(age.duration, absl::ZeroDuration());
  EXPECT_EQ(AbslUnparseFlag(age), "0");
  EXPECT_FALSE(AbslParseFlag("a week", &age, &error));
  EXPECT_FALSE(AbslParseFlag("-1h", &age, &error));
}

}  // namespace
}  // namespace chat
