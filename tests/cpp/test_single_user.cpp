// Objects with work buffers are for one thread at a time, and say so by refusing a second thread
// (core/single_user.hpp) instead of corrupting both results. The first thread is held inside the object
// until the second has tried, so the overlap is certain, not left to timing.
#include <atomic>
#include <thread>

#include "larmor/ops/compose.hpp"
#include "test_helpers.hpp"

namespace larmor {
namespace {

// y = 2 x, whose apply waits inside until `release` is set (after announcing that it is inside).
class held_operator : public linear_operator<cfloat> {
 public:
  explicit held_operator(index_t n) : n_(n) {}
  index_t input_size() const override { return n_; }
  index_t output_size() const override { return n_; }
  void apply(const cfloat* x, cfloat* y) const override {
    inside.store(true);
    while (!release.load()) std::this_thread::yield();
    for (index_t i = 0; i < n_; ++i) y[i] = 2.f * x[i];
  }
  void adjoint(const cfloat* y, cfloat* x) const override {
    for (index_t i = 0; i < n_; ++i) x[i] = 2.f * y[i];
  }
  mutable std::atomic<bool> inside{false}, release{false};

 private:
  index_t n_;
};

class scale_operator : public linear_operator<cfloat> {
 public:
  explicit scale_operator(index_t n) : n_(n) {}
  index_t input_size() const override { return n_; }
  index_t output_size() const override { return n_; }
  void apply(const cfloat* x, cfloat* y) const override {
    for (index_t i = 0; i < n_; ++i) y[i] = 3.f * x[i];
  }
  void adjoint(const cfloat* y, cfloat* x) const override { apply(y, x); }

 private:
  index_t n_;
};

TEST(SingleUser, ASecondThreadInsideAComposedOperatorIsRefusedAndTheFirstIsUnharmed) {
  const index_t n = 16;
  held_operator A(n);
  scale_operator B(n);
  composed_operator C(B, A);  // y = 3 (2 x)
  std::vector<cfloat> x(n, cfloat(1.f, -1.f)), y1(n), y2(n);
  std::thread first([&] { C.apply(x.data(), y1.data()); });
  while (!A.inside.load()) std::this_thread::yield();
  EXPECT_THROW(C.apply(x.data(), y2.data()), InvalidArgument);
  A.release.store(true);
  first.join();
  for (index_t i = 0; i < n; ++i) EXPECT_EQ(y1[static_cast<std::size_t>(i)], cfloat(6.f, -6.f));
  // Free again: the same object from this thread now works.
  C.apply(x.data(), y2.data());
  EXPECT_EQ(y2, y1);
}

TEST(SingleUser, TheMessageSaysWhatToDo) {
  single_user_flag f;
  std::atomic<bool> inside{false}, done{false};
  std::thread t([&] {
    const single_user_scope s(f, "nufft_plan");
    inside.store(true);
    while (!done.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  try {
    const single_user_scope s(f, "nufft_plan");
    ADD_FAILURE() << "entered while another thread was inside";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("nufft_plan: used by two threads at once"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("each thread needs its own"), std::string::npos);
  }
  done.store(true);
  t.join();
  // The owner may re-enter (a method calling another method of the same object); a copy has its own flag.
  const single_user_scope outer(f, "x");
  const single_user_scope inner(f, "x");
  single_user_flag copy = f;
  std::thread other([&] { const single_user_scope s(copy, "copy"); });
  other.join();
}

}  // namespace
}  // namespace larmor
