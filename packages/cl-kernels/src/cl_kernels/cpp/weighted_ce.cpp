// Row kernels of the token-weighted cross-entropy on CPU buffers (fp32 or bf16, row-major).
//
// Built as the extension cl_kernels._cpp_weighted_ce (pybind11 + OpenMP, no libtorch): the
// Python driver passes raw data pointers of contiguous CPU tensors plus their sizes.
//
// rows_forward: for each row i of z (n x v, leading dimension ld) computes
//   lse_i = log sum_j exp(z_ij)  and  loss_i = lse_i - z_i,y_i   (0 when y_i < 0: ignored),
// and, when write_grad, overwrites the row in place with coef_i * (softmax(z_i) - onehot(y_i)).
// rows_grad: the same gradient from a saved lse into a separate buffer (backward of the
// logits variant). One pass for the max, one for the sum of exponentials, one for the gradient;
// the eager PyTorch reference makes about seven passes and three logits-sized allocations.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common.h"

namespace {

// exp(x) for x in [-87, 88] (clamped; NaN propagates) by Cody-Waite range reduction and a
// degree-6 polynomial (the Cephes coefficients, about 2 ulp). n = round(x / ln 2) comes from the
// 1.5 * 2^23 magic-number addition, whose float bits also hold n, so there is no float->int
// conversion and no floor: GCC then vectorises the row loops without -fno-trapping-math
// (measured 6x faster than with std::floor and a cast under the default flags).
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float t = x * 1.44269504088896341f + 12582912.0f;
  const float n = t - 12582912.0f;
  int32_t t_bits;
  std::memcpy(&t_bits, &t, sizeof(t_bits));
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t bits = (t_bits - 0x4B400000 + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// Storage types of z and grad: fp32, or bf16 held as uint16 (upper half of an fp32; stores
// round to nearest even and keep NaN a NaN). Arithmetic is always fp32.
struct F32 {
  using T = float;
  static float load(T v) { return v; }
  static T store(float f) { return f; }
};

struct BF16 {
  using T = uint16_t;
  static float load(T v) {
    const uint32_t bits = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
  static T store(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
    return static_cast<T>((bits & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : rounded);
  }
};

template <class S>
inline float row_lse(const typename S::T* z, int64_t v) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < v; ++j) m = std::max(m, S::load(z[j]));
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < v; ++j) s += exp_approx(S::load(z[j]) - m);
  return m + std::log(s);
}

template <class S>
inline void row_grad(const typename S::T* z, typename S::T* g, int64_t v, int64_t y, float c,
                     float lse) {
  if (c == 0.0f) {
    std::fill(g, g + v, S::store(0.0f));
    return;
  }
  // the target's entry first: with g aliasing z, z[y] must be read before it is overwritten
  const float gy = y >= 0 ? c * exp_approx(S::load(z[y]) - lse) - c : 0.0f;
#pragma omp simd
  for (int64_t j = 0; j < v; ++j) g[j] = S::store(c * exp_approx(S::load(z[j]) - lse));
  if (y >= 0) g[y] = S::store(gy);
}

template <class S>
void rows_forward_t(std::uintptr_t z_ptr, int64_t ld, const int64_t* labels, const float* coef,
                    float* loss, float* lse, int64_t n, int64_t v, bool write_grad) {
  auto* z = reinterpret_cast<typename S::T*>(z_ptr);
  const bool par = clk::parallel_worth(static_cast<double>(n) * v * (write_grad ? 2 : 1));
#pragma omp parallel for if (par) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    auto* zr = z + i * ld;
    const int64_t y = labels[i];
    const float l = row_lse<S>(zr, v);
    lse[i] = l;
    loss[i] = y < 0 ? 0.0f : l - S::load(zr[y]);
    if (write_grad) row_grad<S>(zr, zr, v, y, coef[i], l);
  }
}

template <class S>
void rows_grad_t(std::uintptr_t z_ptr, int64_t ld, std::uintptr_t grad_ptr, int64_t gld,
                 const int64_t* labels, const float* coef, const float* lse, int64_t n, int64_t v) {
  const auto* z = reinterpret_cast<const typename S::T*>(z_ptr);
  auto* grad = reinterpret_cast<typename S::T*>(grad_ptr);
  const bool par = clk::parallel_worth(static_cast<double>(n) * v);
#pragma omp parallel for if (par) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    row_grad<S>(z + i * ld, grad + i * gld, v, labels[i], coef[i], lse[i]);
}

// dtype: 0 = float32, 1 = bfloat16 (z and grad share it).
void rows_forward(std::uintptr_t z_ptr, int64_t ld, std::uintptr_t labels_ptr,
                  std::uintptr_t coef_ptr, std::uintptr_t loss_ptr, std::uintptr_t lse_ptr,
                  int64_t n, int64_t v, bool write_grad, int dtype) {
  const auto* labels = reinterpret_cast<const int64_t*>(labels_ptr);
  const auto* coef = reinterpret_cast<const float*>(coef_ptr);
  auto* loss = reinterpret_cast<float*>(loss_ptr);
  auto* lse = reinterpret_cast<float*>(lse_ptr);
  if (dtype == 1)
    rows_forward_t<BF16>(z_ptr, ld, labels, coef, loss, lse, n, v, write_grad);
  else
    rows_forward_t<F32>(z_ptr, ld, labels, coef, loss, lse, n, v, write_grad);
}

void rows_grad(std::uintptr_t z_ptr, int64_t ld, std::uintptr_t grad_ptr, int64_t gld,
               std::uintptr_t labels_ptr, std::uintptr_t coef_ptr, std::uintptr_t lse_ptr,
               int64_t n, int64_t v, int dtype) {
  const auto* labels = reinterpret_cast<const int64_t*>(labels_ptr);
  const auto* coef = reinterpret_cast<const float*>(coef_ptr);
  const auto* lse = reinterpret_cast<const float*>(lse_ptr);
  if (dtype == 1)
    rows_grad_t<BF16>(z_ptr, ld, grad_ptr, gld, labels, coef, lse, n, v);
  else
    rows_grad_t<F32>(z_ptr, ld, grad_ptr, gld, labels, coef, lse, n, v);
}

}  // namespace

PYBIND11_MODULE(_cpp_weighted_ce, m) {
  m.doc() = "Token-weighted cross-entropy row kernels on fp32/bf16 CPU buffers (OpenMP).";
  m.def("rows_forward", &rows_forward, "Per-row loss and lse; optional in-place gradient.",
        pybind11::arg("z"), pybind11::arg("ld"), pybind11::arg("labels"), pybind11::arg("coef"),
        pybind11::arg("loss"), pybind11::arg("lse"), pybind11::arg("n"), pybind11::arg("v"),
        pybind11::arg("write_grad"), pybind11::arg("dtype"), pybind11::call_guard<pybind11::gil_scoped_release>());
  m.def("rows_grad", &rows_grad, "coef * (softmax - onehot) from a saved lse.",
        pybind11::arg("z"), pybind11::arg("ld"), pybind11::arg("grad"), pybind11::arg("gld"),
        pybind11::arg("labels"), pybind11::arg("coef"), pybind11::arg("lse"),
        pybind11::arg("n"), pybind11::arg("v"), pybind11::arg("dtype"),
        pybind11::call_guard<pybind11::gil_scoped_release>());
}
