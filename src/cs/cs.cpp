// The compressed-sensing solve (include/larmor/cs/cs.hpp), compiled once here.
#include "larmor/cs/cs.hpp"

namespace larmor {

cs_report cs_solve(const linear_operator<cfloat>& A, const cfloat* b, const std::vector<index_t>& shape,
                          const cs_options& opt, float s, cfloat* x) {
  const index_t n = A.input_size();
  index_t ns = 1;
  for (index_t v : shape) ns *= v;
  LARMOR_CHECK_ARG(ns == n, "cs: image shape holds ", ns, " samples, the operator takes ", n);
  for (float l : {opt.wavelet, opt.tv, opt.llr, opt.tv_time})
    LARMOR_CHECK_ARG(std::isfinite(l) && l >= 0, "cs: lambdas must be finite and >= 0");
  LARMOR_CHECK_ARG(opt.wavelet > 0 || opt.tv > 0 || opt.llr > 0 || opt.tv_time > 0,
                   "cs: at least one penalty (wavelet, tv, llr, tv_time) must be > 0");
  const int nd = static_cast<int>(shape.size());
  LARMOR_CHECK_ARG(opt.time_axis >= -1 && opt.time_axis < nd, "cs: time_axis ", opt.time_axis, " outside the ", nd,
                   " image axes");
  LARMOR_CHECK_ARG((opt.llr == 0 && opt.tv_time == 0) || opt.time_axis >= 0,
                   "cs: llr and tv_time need dynamic data (a time axis: kspace (frames, coils, y, x))");
  LARMOR_CHECK_ARG(opt.llr == 0 || opt.time_axis == 0, "cs: llr needs the time axis first");
  LARMOR_CHECK_ARG(opt.llr_block >= 1, "cs: llr_block must be >= 1, got ", opt.llr_block);
  LARMOR_CHECK_ARG(opt.iters >= 1, "cs: iters must be >= 1, got ", opt.iters);
  LARMOR_CHECK_ARG(opt.average >= -1, "cs: average must be >= -1, got ", opt.average);
  LARMOR_CHECK_ARG(std::isfinite(s) && s > 0, "cs: data scale must be > 0, got ", s);
  const unsigned all = (1u << nd) - 1u;
  const unsigned spatial = opt.time_axis >= 0 ? all & ~(1u << opt.time_axis) : all;
  const int nprox = (opt.wavelet > 0) + (opt.llr > 0);
  const bool needs_admm = opt.tv > 0 || opt.tv_time > 0 || nprox > 1;
  cs_solver solver = opt.solver;
  if (solver == cs_solver::automatic) solver = needs_admm ? cs_solver::admm : cs_solver::fista;
  LARMOR_CHECK_ARG(solver == cs_solver::admm || !needs_admm,
                   "cs: FISTA and POGM take one penalty with a closed-form prox (wavelet or llr); use ADMM (or "
                   "automatic) for TV or sums of penalties");
  array<cfloat, 1> bs({n}, uninitialized);
  const float inv = 1.f / s;
  detail::cg_chunks(n, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) bs[i] = b[i] * inv, x[i] = 0;
  });
  cs_report rep;
  std::unique_ptr<wavelet_l1_prox> wl;
  std::unique_ptr<llr_prox> lr;
  if (opt.wavelet > 0)
    wl = std::make_unique<wavelet_l1_prox>(shape, opt.wavelet, opt.kind, opt.min_size, opt.cycle_spin, opt.seed,
                                           spatial, opt.wavelet_coarse);
  if (opt.llr > 0) lr = std::make_unique<llr_prox>(shape, opt.llr, opt.llr_block, opt.cycle_spin, opt.seed);
  if (solver == cs_solver::fista || solver == cs_solver::pogm) {
    proximal_map<cfloat>& g = wl ? static_cast<proximal_map<cfloat>&>(*wl) : *lr;
    if (solver == cs_solver::fista) {
      fista_options fo;
      fo.iters = opt.iters;
      fo.step = opt.step;
      fo.callback = opt.callback;
      fo.average = opt.average >= 0 ? opt.average : (opt.cycle_spin ? opt.iters / 5 : 0);
      const auto fr = fista(A, bs.data(), g, x, fo);
      rep.step = fr.step;
      rep.iterations = fr.iterations;
    } else {
      pogm_options po;
      po.iters = opt.iters;
      po.step = opt.step;
      po.callback = opt.callback;
      const auto pr = pogm(A, bs.data(), g, x, po);
      rep.step = pr.step;
      rep.iterations = pr.iterations;
    }
  } else {
    std::vector<admm_term> terms;
    std::unique_ptr<finite_difference_operator> D, Dt;
    std::unique_ptr<proximal_map<cfloat>> gtv, gtt;
    if (opt.tv > 0) {
      D = std::make_unique<finite_difference_operator>(shape, spatial);
      if (opt.tv_isotropic)
        gtv = std::make_unique<group_l1_prox>(n, D->directions(), opt.tv);
      else
        gtv = std::make_unique<l1_prox>(D->output_size(), opt.tv);
      terms.push_back({D.get(), gtv.get()});
    }
    if (opt.tv_time > 0) {
      Dt = std::make_unique<finite_difference_operator>(shape, 1u << opt.time_axis);
      gtt = std::make_unique<l1_prox>(Dt->output_size(), opt.tv_time);
      terms.push_back({Dt.get(), gtt.get()});
    }
    if (wl) terms.push_back({nullptr, wl.get()});
    if (lr) terms.push_back({nullptr, lr.get()});
    admm_options ao;
    ao.iters = opt.iters;
    ao.rho = opt.rho;
    ao.cg_iters = opt.cg_iters;
    ao.callback = opt.callback;
    rep.iterations = admm(A, bs.data(), terms, x, ao).iterations;
  }
  detail::cg_chunks(n, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) x[i] *= s;
  });
  return rep;
}

}  // namespace larmor
