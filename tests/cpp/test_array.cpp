// Tests of strided_view / array: shapes, strides, conversions and the errors they raise.
#include "test_helpers.hpp"
#include "larmor/core/parallel.hpp"

namespace larmor {

TEST(Array, ZeroFilledAlignedAndIndexedRowMajor) {
  array<cfloat, 3> a(extents<3>{2, 3, 4});
  EXPECT_EQ(a.size(), 24);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
  for (auto v : a) EXPECT_EQ(v, cfloat(0));
  a(1, 2, 3) = cfloat(7, 1);
  EXPECT_EQ(a[23], cfloat(7, 1));
  EXPECT_EQ(a.strides(), (extents<3>{12, 4, 1}));
}

TEST(Array, CopyIsDeepMoveIsCheap) {
  array<float, 1> a(extents<1>{3});
  a(0) = 1;
  array<float, 1> b = a;
  b(0) = 2;
  EXPECT_EQ(a(0), 1);
  const float* p = b.data();
  array<float, 1> c = std::move(b);
  EXPECT_EQ(c.data(), p);
}

TEST(Array, ReshapeKeepsDataAndChecksSize) {
  array<float, 2> a(extents<2>{2, 6});
  a(1, 5) = 3;
  const float* p = a.data();
  auto b = std::move(a).reshape(extents<3>{3, 2, 2});
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b(2, 1, 1), 3);
  EXPECT_THROW(std::move(b).reshape(extents<1>{13}), InvalidArgument);
}

TEST(View, NegativeAndZeroStrides) {
  std::vector<float> d = {0, 1, 2, 3, 4, 5};
  strided_view<float, 1> rev(d.data() + 5, extents<1>{6}, extents<1>{-1});
  EXPECT_EQ(rev(0), 5);
  EXPECT_EQ(rev(5), 0);
  EXPECT_FALSE(rev.is_contiguous());
  strided_view<const float, 2> bcast(d.data(), extents<2>{4, 3}, extents<2>{0, 1});
  EXPECT_EQ(bcast(3, 2), 2);
  const auto copy = to_array(rev);
  EXPECT_EQ(copy(0), 5);
  EXPECT_TRUE(copy.view().is_contiguous());
}

TEST(View, SliceTakesAxisZero) {
  array<int, 3> a(extents<3>{2, 3, 4});
  a(1, 2, 3) = 9;
  auto s = a.view().slice(1);
  EXPECT_EQ(s.shape(), (extents<2>{3, 4}));
  EXPECT_EQ(s(2, 3), 9);
}

TEST(View, ErrorsNameTheProblem) {
  try {
    array<float, 2> a(extents<2>{3, -1});
    FAIL() << "no throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("(3, -1)"), std::string::npos) << e.what();
  }
  array<float, 2> a(extents<2>{2, 2}), b(extents<2>{2, 3});
  try {
    copy(a.cview(), b.view());
    FAIL() << "no throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("src has shape (2, 2) but dst has shape (2, 3)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(normalize_axis("f", 3, 3), InvalidArgument);
  EXPECT_EQ(normalize_axis("f", -1, 3), 2);
  // Error types: argument errors and data errors both derive from larmor::Error (std::runtime_error).
  EXPECT_TRUE((std::is_base_of_v<std::runtime_error, InvalidArgument>));
  EXPECT_TRUE((std::is_base_of_v<Error, DataError>));
}

TEST(Parallel, ThreadSetting) {
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), before);
  EXPECT_THROW(set_num_threads(-1), InvalidArgument);
}

}  // namespace larmor
