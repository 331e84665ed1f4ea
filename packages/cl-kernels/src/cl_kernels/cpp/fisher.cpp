// Fisher / EWC kernels on CPU float32 buffers (no libtorch): each call walks every tensor of a
// list in fixed-size chunks spread over OpenMP threads, one pass over memory.
//
// Tensors arrive as raw addresses (Python ints from Tensor.data_ptr()) with their element counts;
// the Python wrapper (fisher.py) guarantees contiguous float32 buffers on the CPU.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <vector>

#include "common.h"

namespace py = pybind11;

namespace {

using clk::Chunk;
using clk::chunks_of;
using clk::f32;

void check_sizes(size_t n, const std::vector<int64_t>& numels, const char* what) {
  if (n != numels.size()) throw std::invalid_argument(std::string(what) + ": list lengths differ");
}

// F_i += c * g_i^2
void accumulate(const std::vector<int64_t>& fishers, const std::vector<int64_t>& grads,
                const std::vector<int64_t>& numels, double c) {
  check_sizes(fishers.size(), numels, "accumulate");
  check_sizes(grads.size(), numels, "accumulate");
  const auto chunks = chunks_of(numels);
  const bool par = clk::parallel_worth(clk::total(numels));
  const float cf = static_cast<float>(c);
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 4)
  for (int64_t k = 0; k < static_cast<int64_t>(chunks.size()); ++k) {
    const Chunk ch = chunks[k];
    float* f = f32(fishers[ch.tensor]);
    const float* g = f32(grads[ch.tensor]);
#pragma omp simd
    for (int64_t j = ch.start; j < ch.stop; ++j) f[j] += cf * g[j] * g[j];
  }
}

// F_old <- (F_new + t * F_old) / (t + 1)
void merge(const std::vector<int64_t>& f_new, const std::vector<int64_t>& f_old,
           const std::vector<int64_t>& numels, double t) {
  check_sizes(f_new.size(), numels, "merge");
  check_sizes(f_old.size(), numels, "merge");
  const auto chunks = chunks_of(numels);
  const bool par = clk::parallel_worth(clk::total(numels));
  const float tf = static_cast<float>(t);
  const float inv = static_cast<float>(1.0 / (t + 1.0));
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 4)
  for (int64_t k = 0; k < static_cast<int64_t>(chunks.size()); ++k) {
    const Chunk ch = chunks[k];
    const float* n = f32(f_new[ch.tensor]);
    float* o = f32(f_old[ch.tensor]);
#pragma omp simd
    for (int64_t j = ch.start; j < ch.stop; ++j) o[j] = (n[j] + tf * o[j]) * inv;
  }
}

// sum_i sum F_i (p_i - a_i)^2 (the caller scales by lambda / 2), accumulated in double per chunk.
double ewc_value(const std::vector<int64_t>& params, const std::vector<int64_t>& anchors,
                 const std::vector<int64_t>& fishers, const std::vector<int64_t>& numels) {
  check_sizes(params.size(), numels, "ewc_value");
  check_sizes(anchors.size(), numels, "ewc_value");
  check_sizes(fishers.size(), numels, "ewc_value");
  const auto chunks = chunks_of(numels);
  const bool par = clk::parallel_worth(clk::total(numels));
  std::vector<double> partial(chunks.size(), 0.0);
  {
    py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 4)
    for (int64_t k = 0; k < static_cast<int64_t>(chunks.size()); ++k) {
      const Chunk ch = chunks[k];
      const float* p = f32(params[ch.tensor]);
      const float* a = f32(anchors[ch.tensor]);
      const float* f = f32(fishers[ch.tensor]);
      double acc = 0.0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = ch.start; j < ch.stop; ++j) {
        const float d = p[j] - a[j];
        acc += static_cast<double>(f[j] * d * d);
      }
      partial[k] = acc;
    }
  }
  double total = 0.0;
  for (double v : partial) total += v;  // fixed order: deterministic for any thread count
  return total;
}

// out_i = scale * F_i (p_i - a_i): the gradient of scale/2 * sum F (p - a)^2.
void ewc_grad(const std::vector<int64_t>& params, const std::vector<int64_t>& anchors,
              const std::vector<int64_t>& fishers, const std::vector<int64_t>& outs,
              const std::vector<int64_t>& numels, double scale) {
  check_sizes(outs.size(), numels, "ewc_grad");
  const auto chunks = chunks_of(numels);
  const bool par = clk::parallel_worth(clk::total(numels));
  const float s = static_cast<float>(scale);
  py::gil_scoped_release release;
#pragma omp parallel for if (par) schedule(dynamic, 4)
  for (int64_t k = 0; k < static_cast<int64_t>(chunks.size()); ++k) {
    const Chunk ch = chunks[k];
    const float* p = f32(params[ch.tensor]);
    const float* a = f32(anchors[ch.tensor]);
    const float* f = f32(fishers[ch.tensor]);
    float* o = f32(outs[ch.tensor]);
#pragma omp simd
    for (int64_t j = ch.start; j < ch.stop; ++j) o[j] = s * f[j] * (p[j] - a[j]);
  }
}

}  // namespace

PYBIND11_MODULE(_cpp_fisher, m) {
  m.doc() = "cl_kernels Fisher/EWC kernels on CPU float32 buffers (pybind11 + OpenMP)";
  m.def("accumulate", &accumulate, "F_i += c * g_i^2", py::arg("fishers"), py::arg("grads"),
        py::arg("numels"), py::arg("c"));
  m.def("merge", &merge, "F_old <- (F_new + t F_old) / (t + 1)", py::arg("f_new"),
        py::arg("f_old"), py::arg("numels"), py::arg("t"));
  m.def("ewc_value", &ewc_value, "sum F (p - a)^2", py::arg("params"), py::arg("anchors"),
        py::arg("fishers"), py::arg("numels"));
  m.def("ewc_grad", &ewc_grad, "out = scale * F (p - a)", py::arg("params"), py::arg("anchors"),
        py::arg("fishers"), py::arg("outs"), py::arg("numels"), py::arg("scale"));
}
