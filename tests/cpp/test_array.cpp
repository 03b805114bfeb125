// Tests of strided_view / array: shapes, strides, conversions and the errors they raise.
#include "test_helpers.hpp"
#include "larmor/core/parallel.hpp"

#include <cstdio>

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

namespace larmor {

// Large arrays come zero from the kernel (no memset): zero-filled when new, zero again after a written
// array of the same size is freed, 64-byte aligned, and only the pages that are written are backed
// (a sparse write into 256 MiB leaves the process's resident size far below 256 MiB).
TEST(Array, LargeArraysAreZeroMappedAndBackedOnlyWhereWritten) {
  const index_t n = static_cast<index_t>(mapped_allocation_bytes / sizeof(cfloat)) * 4;  // 256 MiB
  auto resident_mib = [] {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f != nullptr) {
      if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
      std::fclose(f);
    }
    return static_cast<double>(resident) * 4096.0 / (1 << 20);
  };
  for (int round = 0; round < 2; ++round) {
    [[maybe_unused]] const double before = resident_mib();  // (unchecked under ASan: shadow memory)
    array<cfloat, 1> a({n});
    EXPECT_TRUE(allocation_is_zero(a.data()));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % array_alignment, 0u);
    for (index_t i = 0; i < n; i += n / 16) a[i] = cfloat(1.f, 2.f);  // 16 sparse writes
    EXPECT_EQ(a[n / 16], cfloat(1.f, 2.f));
    EXPECT_EQ(a[n / 16 + 1], cfloat(0.f, 0.f));
    EXPECT_EQ(a[n - 1], cfloat(0.f, 0.f));
#if !defined(__SANITIZE_ADDRESS__)
    EXPECT_LT(resident_mib() - before, 128.0);  // 16 pages (huge pages at most: 32 MiB), not 256 MiB
#endif
    double sum = 0;
    for (index_t i = 0; i < n; i += 4096 / static_cast<index_t>(sizeof(cfloat))) sum += std::abs(a[i]);
    EXPECT_NEAR(sum, 16 * std::abs(cfloat(1.f, 2.f)), 1e-4);
  }
  array<float, 1> small({100});
  EXPECT_FALSE(allocation_is_zero(small.data()));
  for (index_t i = 0; i < 100; ++i) ASSERT_EQ(small[i], 0.f);
}

}  // namespace larmor
