// Subspace penalties on CPU float32 buffers (no libtorch), OpenMP over layers.
//
// Forward and gradient are fused into one pass over memory: as soon as a row of a product is
// known, its sign (or 2x its value) is folded into the gradient while the operand rows are still
// in cache. The caller multiplies the stored gradient by the incoming gradient in backward.
// Gradient buffers (`grads_*`, may be empty lists = no gradient) are float32, written in full.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"

namespace py = pybind11;
using clk::axpy;
using clk::dot;
using clk::f32;
using clk::sign;
using Ints = std::vector<int64_t>;

namespace {

double sum_in_order(const std::vector<double>& parts) {
  double total = 0.0;
  for (double v : parts) total += v;  // fixed order: deterministic for any thread count
  return total;
}

// O-LoRA: sum_l sum_ij |P_l| (or P_l^2), P_l = A_old_l [r_old x d] @ A_new_l [r_new x d]^T;
// grads_new_l = sum_i s(P_l[i, j]) A_old_l[i, :] with s = sign (l1) or 2x (l2sq).
double orthogonality(const Ints& old_ptrs, const Ints& new_ptrs, const Ints& grad_ptrs,
                     const Ints& r_old, const Ints& r_new, const Ints& dims, bool l2sq) {
  const size_t n = dims.size();
  clk::same_length(old_ptrs.size(), n, "orthogonality");
  clk::same_length(new_ptrs.size(), n, "orthogonality");
  clk::same_length(r_old.size(), n, "orthogonality");
  clk::same_length(r_new.size(), n, "orthogonality");
  const bool grad = !grad_ptrs.empty();
  if (grad) clk::same_length(grad_ptrs.size(), n, "orthogonality");
  std::vector<double> parts(n, 0.0);
  double work = 0.0;
  for (size_t l = 0; l < n; ++l) work += static_cast<double>(r_old[l]) * r_new[l] * dims[l];
  const bool par = clk::parallel_worth(grad ? 2.0 * work : work);
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 1)
  for (int64_t l = 0; l < static_cast<int64_t>(n); ++l) {
    const float* old_a = f32(old_ptrs[l]);
    const float* new_a = f32(new_ptrs[l]);
    const int64_t ro = r_old[l], rn = r_new[l], d = dims[l];
    float* g = grad ? f32(grad_ptrs[l]) : nullptr;
    if (g != nullptr && rn * d > 0) std::memset(g, 0, sizeof(float) * rn * d);
    double acc = 0.0;
    auto fold = [&](float p) -> float {
      acc += l2sq ? static_cast<double>(p) * p : std::fabs(static_cast<double>(p));
      return l2sq ? 2.0f * p : sign(p);
    };
    int64_t i = 0;
    // Four rows of A_old at a time, walked in chunks of kChunk columns: within a chunk the four
    // row pieces stay in L1 while every row of A_new (and of the gradient) passes over them, so
    // each load serves four rows and no row is re-read from memory per row of A_new.
    constexpr int64_t kChunk = 256;
    std::vector<float> p(4 * rn), s(4 * rn);
    for (; i + 4 <= ro; i += 4) {
      const float* r0 = old_a + i * d;
      const float* r1 = r0 + d;
      const float* r2 = r1 + d;
      const float* r3 = r2 + d;
      std::fill(p.begin(), p.end(), 0.0f);
      for (int64_t k0 = 0; k0 < d; k0 += kChunk) {
        const int64_t k1 = k0 + kChunk < d ? k0 + kChunk : d;
        for (int64_t j = 0; j < rn; ++j) {
          const float* w = new_a + j * d;
          float p0 = 0.0f, p1 = 0.0f, p2 = 0.0f, p3 = 0.0f;
#pragma omp simd reduction(+ : p0, p1, p2, p3)
          for (int64_t k = k0; k < k1; ++k) {
            p0 += r0[k] * w[k];
            p1 += r1[k] * w[k];
            p2 += r2[k] * w[k];
            p3 += r3[k] * w[k];
          }
          p[j] += p0;
          p[rn + j] += p1;
          p[2 * rn + j] += p2;
          p[3 * rn + j] += p3;
        }
      }
      for (int64_t q = 0; q < 4 * rn; ++q) s[q] = fold(p[q]);
      if (g == nullptr) continue;
      for (int64_t k0 = 0; k0 < d; k0 += kChunk) {
        const int64_t k1 = k0 + kChunk < d ? k0 + kChunk : d;
        for (int64_t j = 0; j < rn; ++j) {
          const float s0 = s[j], s1 = s[rn + j], s2 = s[2 * rn + j], s3 = s[3 * rn + j];
          float* gj = g + j * d;
#pragma omp simd
          for (int64_t k = k0; k < k1; ++k) {
            gj[k] += s0 * r0[k] + s1 * r1[k] + s2 * r2[k] + s3 * r3[k];
          }
        }
      }
    }
    for (; i < ro; ++i) {
      const float* row = old_a + i * d;
      for (int64_t j = 0; j < rn; ++j) {
        const float s = fold(dot(row, new_a + j * d, d));
        if (g != nullptr && s != 0.0f) axpy(g + j * d, s, row, d);
      }
    }
    parts[l] = acc;
  }
  return sum_in_order(parts);
}

// Sum of squares of every tensor (in double), one entry per tensor.
std::vector<double> sumsq(const Ints& ptrs, const Ints& numels) {
  clk::same_length(ptrs.size(), numels.size(), "sumsq");
  const auto chunks = clk::chunks_of(numels);
  std::vector<double> parts(chunks.size(), 0.0);
  const bool par = clk::parallel_worth(clk::total(numels));
  {
    py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 4)
    for (int64_t k = 0; k < static_cast<int64_t>(chunks.size()); ++k) {
      const clk::Chunk ch = chunks[k];
      const float* x = f32(ptrs[ch.tensor]);
      float acc = 0.0f;  // chunks of 32K elements; the chunks are summed in double
#pragma omp simd reduction(+ : acc)
      for (int64_t j = ch.start; j < ch.stop; ++j) acc += x[j] * x[j];
      parts[k] = acc;
    }
  }
  std::vector<double> out(numels.size(), 0.0);
  for (size_t k = 0; k < chunks.size(); ++k) out[chunks[k].tensor] += parts[k];
  return out;
}

// out_i = x_i * scales[i]
void scaled_copy(const Ints& src, const Ints& dst, const Ints& numels,
                 const std::vector<double>& scales) {
  clk::same_length(src.size(), numels.size(), "scaled_copy");
  clk::same_length(dst.size(), numels.size(), "scaled_copy");
  clk::same_length(scales.size(), numels.size(), "scaled_copy");
  const auto chunks = clk::chunks_of(numels);
  const bool par = clk::parallel_worth(clk::total(numels));
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 4)
  for (int64_t k = 0; k < static_cast<int64_t>(chunks.size()); ++k) {
    const clk::Chunk ch = chunks[k];
    const float* x = f32(src[ch.tensor]);
    float* o = f32(dst[ch.tensor]);
    const float s = static_cast<float>(scales[ch.tensor]);
#pragma omp simd
    for (int64_t j = ch.start; j < ch.stop; ++j) o[j] = s * x[j];
  }
}

// N-LoRA, r x r form: sum_l |A_l [r x d] @ B_l [d x r]|_1;
// dA = S B^T, dB = A^T S with S = sign(A B). B is transposed into a [r x d] buffer first, so
// that every inner loop runs over d contiguously.
double nlora_ab(const Ints& a_ptrs, const Ints& b_ptrs, const Ints& ga_ptrs, const Ints& gb_ptrs,
                const Ints& ranks, const Ints& dims) {
  const size_t n = dims.size();
  clk::same_length(a_ptrs.size(), n, "nlora_ab");
  clk::same_length(b_ptrs.size(), n, "nlora_ab");
  clk::same_length(ranks.size(), n, "nlora_ab");
  const bool grad = !ga_ptrs.empty();
  if (grad) {
    clk::same_length(ga_ptrs.size(), n, "nlora_ab");
    clk::same_length(gb_ptrs.size(), n, "nlora_ab");
  }
  std::vector<double> parts(n, 0.0);
  double work = 0.0;
  for (size_t l = 0; l < n; ++l) work += static_cast<double>(ranks[l]) * ranks[l] * dims[l];
  const bool par = clk::parallel_worth(grad ? 3.0 * work : work);
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 1)
  for (int64_t l = 0; l < static_cast<int64_t>(n); ++l) {
    const float* a = f32(a_ptrs[l]);
    const float* b = f32(b_ptrs[l]);
    const int64_t r = ranks[l], d = dims[l];
    std::vector<float> bt(r * d), s(r * r);
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t j = 0; j < r; ++j) bt[j * d + k] = b[k * r + j];
    }
    double acc = 0.0;
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t j = 0; j < r; ++j) {
        const float p = dot(a + i * d, bt.data() + j * d, d);
        acc += std::fabs(static_cast<double>(p));
        s[i * r + j] = sign(p);
      }
    }
    parts[l] = acc;
    if (!grad) continue;
    float* ga = f32(ga_ptrs[l]);
    float* gb = f32(gb_ptrs[l]);
    std::vector<float> gbt(r * d, 0.0f);
    if (r * d > 0) std::memset(ga, 0, sizeof(float) * r * d);
    for (int64_t i = 0; i < r; ++i) {
      for (int64_t j = 0; j < r; ++j) {
        const float sij = s[i * r + j];
        if (sij == 0.0f) continue;
        axpy(ga + i * d, sij, bt.data() + j * d, d);   // (S B^T)[i, :] += S[i, j] B[:, j]
        axpy(gbt.data() + j * d, sij, a + i * d, d);   // (A^T S)[:, j] += S[i, j] A[i, :]
      }
    }
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t j = 0; j < r; ++j) gb[k * r + j] = gbt[j * d + k];
    }
  }
  return sum_in_order(parts);
}

// N-LoRA, delta-W form: sum_l |B_l [d_out x r] @ A_l [r x d_in]|_1, one row of delta W at a
// time (never the d_out x d_in matrix); dB[m, :] = S[m, :] A^T, dA += B[m, :]^T S[m, :].
double nlora_delta_w(const Ints& a_ptrs, const Ints& b_ptrs, const Ints& ga_ptrs,
                     const Ints& gb_ptrs, const Ints& ranks, const Ints& d_in,
                     const Ints& d_out) {
  const size_t n = ranks.size();
  clk::same_length(a_ptrs.size(), n, "nlora_delta_w");
  clk::same_length(b_ptrs.size(), n, "nlora_delta_w");
  clk::same_length(d_in.size(), n, "nlora_delta_w");
  clk::same_length(d_out.size(), n, "nlora_delta_w");
  const bool grad = !ga_ptrs.empty();
  if (grad) {
    clk::same_length(ga_ptrs.size(), n, "nlora_delta_w");
    clk::same_length(gb_ptrs.size(), n, "nlora_delta_w");
  }
  std::vector<double> parts(n, 0.0);
  double work = 0.0;
  for (size_t l = 0; l < n; ++l) work += static_cast<double>(ranks[l]) * d_in[l] * d_out[l];
  const bool par = clk::parallel_worth(grad ? 3.0 * work : work);
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 1)
  for (int64_t l = 0; l < static_cast<int64_t>(n); ++l) {
    const float* a = f32(a_ptrs[l]);
    const float* b = f32(b_ptrs[l]);
    const int64_t r = ranks[l], ni = d_in[l], no = d_out[l];
    float* ga = grad ? f32(ga_ptrs[l]) : nullptr;
    float* gb = grad ? f32(gb_ptrs[l]) : nullptr;
    if (ga != nullptr && r * ni > 0) std::memset(ga, 0, sizeof(float) * r * ni);
    std::vector<float> row(ni);
    double acc = 0.0;
    for (int64_t m = 0; m < no; ++m) {
      std::fill(row.begin(), row.end(), 0.0f);
      const float* bm = b + m * r;
      for (int64_t k = 0; k < r; ++k) axpy(row.data(), bm[k], a + k * ni, ni);
      float rowsum = 0.0f;
#pragma omp simd reduction(+ : rowsum)
      for (int64_t j = 0; j < ni; ++j) rowsum += std::fabs(row[j]);
      acc += rowsum;
      if (ga == nullptr) continue;
      for (int64_t j = 0; j < ni; ++j) row[j] = sign(row[j]);
      for (int64_t k = 0; k < r; ++k) {
        gb[m * r + k] = dot(row.data(), a + k * ni, ni);
        if (bm[k] != 0.0f) axpy(ga + k * ni, bm[k], row.data(), ni);
      }
    }
    parts[l] = acc;
  }
  return sum_in_order(parts);
}

}  // namespace

PYBIND11_MODULE(_cpp_subspace, m) {
  m.doc() = "cl_kernels subspace penalties on CPU float32 buffers (pybind11 + OpenMP)";
  m.def("orthogonality", &orthogonality, py::arg("old_ptrs"), py::arg("new_ptrs"),
        py::arg("grad_ptrs"), py::arg("r_old"), py::arg("r_new"), py::arg("dims"),
        py::arg("l2sq"));
  m.def("sumsq", &sumsq, py::arg("ptrs"), py::arg("numels"));
  m.def("scaled_copy", &scaled_copy, py::arg("src"), py::arg("dst"), py::arg("numels"),
        py::arg("scales"));
  m.def("nlora_ab", &nlora_ab, py::arg("a_ptrs"), py::arg("b_ptrs"), py::arg("ga_ptrs"),
        py::arg("gb_ptrs"), py::arg("ranks"), py::arg("dims"));
  m.def("nlora_delta_w", &nlora_delta_w, py::arg("a_ptrs"), py::arg("b_ptrs"),
        py::arg("ga_ptrs"), py::arg("gb_ptrs"), py::arg("ranks"), py::arg("d_in"),
        py::arg("d_out"));
}
