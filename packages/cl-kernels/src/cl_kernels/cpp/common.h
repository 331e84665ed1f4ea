// Shared helpers of the cl_kernels C++ extensions (header only; each .cpp is its own module).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace clk {

// Tensors arrive as raw addresses (Python ints from Tensor.data_ptr()).
inline float* f32(int64_t address) {
  return reinterpret_cast<float*>(static_cast<uintptr_t>(address));
}

inline void same_length(size_t got, size_t want, const char* where) {
  if (got != want) {
    throw std::invalid_argument(std::string(where) + ": argument lists differ in length (" +
                                std::to_string(got) + " vs " + std::to_string(want) + ")");
  }
}

// A contiguous slice [start, stop) of tensor `tensor`: the unit of work of multi-tensor loops.
struct Chunk {
  int64_t tensor;
  int64_t start;
  int64_t stop;
};

inline std::vector<Chunk> chunks_of(const std::vector<int64_t>& numels, int64_t size = 1 << 15) {
  std::vector<Chunk> out;
  for (int64_t i = 0; i < static_cast<int64_t>(numels.size()); ++i) {
    for (int64_t s = 0; s < numels[i]; s += size) {
      out.push_back({i, s, s + size < numels[i] ? s + size : numels[i]});
    }
  }
  return out;
}

inline float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t k = 0; k < n; ++k) acc += a[k] * b[k];
  return acc;
}

// y += s * x
inline void axpy(float* y, float s, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) y[k] += s * x[k];
}

inline float sign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }

// Work (multiply-adds, or elements of an elementwise loop) below which a loop runs on the calling
// thread only: an OpenMP region ends in a barrier that waits for every worker, which costs a few
// microseconds on an idle machine but milliseconds when the cores are oversubscribed (a worker
// waits for a time slice). 1 << 21 is a few hundred microseconds of single-threaded work.
constexpr double kParallelMinWork = static_cast<double>(1 << 21);

inline bool parallel_worth(double work) { return work >= kParallelMinWork; }

template <class It>
inline double total(const It& values) {
  double sum = 0.0;
  for (auto v : values) sum += static_cast<double>(v);
  return sum;
}

}  // namespace clk
