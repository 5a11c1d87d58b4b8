// deepcnn/tensor.hpp: Shape and Tensor<Scalar>, an owning, contiguous, row-major (N, C, H, W) array.
// Tensors own their storage; Eigen maps give matrix and vector views without copying. A new tensor is zeros;
// resize() leaves values unwritten (no zero pass over memory the caller is about to overwrite).
#pragma once

#include <algorithm>
#include <Eigen/Core>

#include <cstddef>
#include <initializer_list>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "error.hpp"

namespace deepcnn {

namespace detail {

// Eigen's aligned allocator, except that the element a vector value-initialises when it grows (resize) is
// default-initialised: for arithmetic types, left unwritten. Layers resize their outputs every pass (Sequential
// hands its two gradient buffers from layer to layer, so they shrink and grow), and zeroing the grown part, which
// the layer then overwrites, cost a serial pass over up to 19 MB per layer.
template <class T>
struct DefaultInitAllocator : Eigen::aligned_allocator<T> {
    template <class U>
    struct rebind {
        using other = DefaultInitAllocator<U>;
    };
    DefaultInitAllocator() = default;
    template <class U>
    DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

    template <class U>
    void construct(U* p) noexcept(noexcept(::new (static_cast<void*>(p)) U)) {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

template <class T, class U>
bool operator==(const DefaultInitAllocator<T>&, const DefaultInitAllocator<U>&) noexcept {
    return true;
}
template <class T, class U>
bool operator!=(const DefaultInitAllocator<T>&, const DefaultInitAllocator<U>&) noexcept {
    return false;
}

}  // namespace detail

// The four dimensions of a batch of images: N samples, C channels, H rows, W columns.
// A batch of feature vectors is (N, F, 1, 1).
struct Shape {
    int n = 0;
    int c = 0;
    int h = 0;
    int w = 0;

    Shape() = default;
    Shape(int n_, int c_, int h_, int w_) : n(n_), c(c_), h(h_), w(w_) {}

    // Elements of one sample: C * H * W.
    std::size_t per_sample() const {
        return static_cast<std::size_t>(c) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
    }
    // Elements of the whole batch: N * C * H * W.
    std::size_t size() const { return static_cast<std::size_t>(n) * per_sample(); }
    // The same sample shape with another batch size.
    Shape with_batch(int batch) const { return Shape(batch, c, h, w); }
    bool is_flat() const { return h == 1 && w == 1; }

    friend bool operator==(const Shape& a, const Shape& b) {
        return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w;
    }
    friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

    // "(64, 1, 48, 48)"
    std::string str() const {
        std::ostringstream out;
        out << '(' << n << ", " << c << ", " << h << ", " << w << ')';
        return out.str();
    }
    // The per-sample part, as Keras prints it: "(1, 48, 48)" for images, "(128)" for flat features.
    std::string sample_str() const {
        std::ostringstream out;
        if (is_flat()) {
            out << '(' << c << ')';
        } else {
            out << '(' << c << ", " << h << ", " << w << ')';
        }
        return out.str();
    }
};

inline std::ostream& operator<<(std::ostream& out, const Shape& shape) { return out << shape.str(); }

template <class Scalar>
class Tensor {
public:
    using value_type = Scalar;
    using Storage = std::vector<Scalar, detail::DefaultInitAllocator<Scalar>>;
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
    using MatrixMap = Eigen::Map<Matrix, Eigen::Unaligned>;
    using ConstMatrixMap = Eigen::Map<const Matrix, Eigen::Unaligned>;
    using VectorMap = Eigen::Map<Vector, Eigen::Unaligned>;
    using ConstVectorMap = Eigen::Map<const Vector, Eigen::Unaligned>;

    Tensor() = default;
    explicit Tensor(const Shape& shape) : Tensor(shape, Scalar(0)) {}  // zeros
    Tensor(const Shape& shape, Scalar value) : shape_(shape), data_(checked_size(shape), value) {}
    Tensor(int n, int c, int h, int w) : Tensor(Shape(n, c, h, w)) {}
    // A tensor of the given shape holding `values` in row-major order; throws shape_error if the count differs.
    Tensor(const Shape& shape, std::initializer_list<Scalar> values) : Tensor(shape) {
        if (values.size() != data_.size()) {
            throw shape_error("Tensor: shape " + shape.str() + " holds " + std::to_string(data_.size()) +
                              " values, got " + std::to_string(values.size()));
        }
        std::copy(values.begin(), values.end(), data_.begin());
    }

    const Shape& shape() const { return shape_; }
    int n() const { return shape_.n; }
    int c() const { return shape_.c; }
    int h() const { return shape_.h; }
    int w() const { return shape_.w; }
    std::size_t size() const { return data_.size(); }
    bool empty() const { return data_.empty(); }

    Scalar* data() { return data_.data(); }
    const Scalar* data() const { return data_.data(); }
    Scalar* begin() { return data_.data(); }
    Scalar* end() { return data_.data() + data_.size(); }
    const Scalar* begin() const { return data_.data(); }
    const Scalar* end() const { return data_.data() + data_.size(); }

    // Pointer to the first element of sample `i`.
    Scalar* sample(int i) { return data_.data() + static_cast<std::size_t>(i) * shape_.per_sample(); }
    const Scalar* sample(int i) const { return data_.data() + static_cast<std::size_t>(i) * shape_.per_sample(); }

    Scalar& operator[](std::size_t i) { return data_[i]; }
    const Scalar& operator[](std::size_t i) const { return data_[i]; }

    // Unchecked element access (n, c, h, w).
    Scalar& operator()(int n, int c, int h, int w) { return data_[offset(n, c, h, w)]; }
    const Scalar& operator()(int n, int c, int h, int w) const { return data_[offset(n, c, h, w)]; }

    // Bounds-checked element access; throws shape_error naming the index and the shape.
    Scalar& at(int n, int c, int h, int w) { return data_[checked_offset(n, c, h, w)]; }
    const Scalar& at(int n, int c, int h, int w) const { return data_[checked_offset(n, c, h, w)]; }

    // Changes the shape; keeps the allocation when it is large enough, so steady-state training does not
    // allocate. Element values are unspecified afterwards: elements it adds are left unwritten, not zeroed.
    void resize(const Shape& shape) {
        data_.resize(checked_size(shape));
        shape_ = shape;
    }
    // Same elements, another shape of the same size; throws shape_error otherwise.
    void reshape(const Shape& shape) {
        if (checked_size(shape) != data_.size()) {
            throw shape_error("Tensor::reshape: cannot view " + shape_.str() + " (" + std::to_string(data_.size()) +
                              " elements) as " + shape.str());
        }
        shape_ = shape;
    }
    void fill(Scalar value) { std::fill(data_.begin(), data_.end(), value); }
    void set_zero() { fill(Scalar(0)); }

    // All elements as one column vector.
    VectorMap vec() { return VectorMap(data_.data(), static_cast<Eigen::Index>(data_.size())); }
    ConstVectorMap vec() const { return ConstVectorMap(data_.data(), static_cast<Eigen::Index>(data_.size())); }
    // The batch as an (N, C*H*W) row-major matrix: one sample per row.
    MatrixMap matrix() { return MatrixMap(data_.data(), shape_.n, static_cast<Eigen::Index>(shape_.per_sample())); }
    ConstMatrixMap matrix() const {
        return ConstMatrixMap(data_.data(), shape_.n, static_cast<Eigen::Index>(shape_.per_sample()));
    }

    // Samples [first, first + count) as a new tensor.
    Tensor slice(int first, int count) const {
        if (first < 0 || count < 0 || first + count > shape_.n) {
            throw shape_error("Tensor::slice: samples [" + std::to_string(first) + ", " +
                              std::to_string(first + count) + ") out of range for " + shape_.str());
        }
        Tensor out(shape_.with_batch(count));
        std::copy(sample(first), sample(first) + out.size(), out.data());
        return out;
    }

    // The same values in another scalar type.
    template <class Other>
    Tensor<Other> cast() const {
        Tensor<Other> out(shape_);
        for (std::size_t i = 0; i < data_.size(); ++i) out[i] = static_cast<Other>(data_[i]);
        return out;
    }

private:
    static std::size_t checked_size(const Shape& shape) {
        if (shape.n < 0 || shape.c < 0 || shape.h < 0 || shape.w < 0) {
            throw shape_error("Tensor: negative dimension in shape " + shape.str());
        }
        return shape.size();
    }
    std::size_t offset(int n, int c, int h, int w) const {
        return ((static_cast<std::size_t>(n) * shape_.c + c) * shape_.h + h) * shape_.w + w;
    }
    std::size_t checked_offset(int n, int c, int h, int w) const {
        if (n < 0 || n >= shape_.n || c < 0 || c >= shape_.c || h < 0 || h >= shape_.h || w < 0 || w >= shape_.w) {
            std::ostringstream msg;
            msg << "Tensor::at: index (" << n << ", " << c << ", " << h << ", " << w << ") out of range for shape "
                << shape_.str();
            throw shape_error(msg.str());
        }
        return offset(n, c, h, w);
    }

    Shape shape_;
    Storage data_;
};

// Prints the shape, then each (n, c) plane as rows of numbers; large tensors print their first values only.
template <class Scalar>
std::ostream& operator<<(std::ostream& out, const Tensor<Scalar>& t) {
    constexpr std::size_t max_printed = 256;
    out << "Tensor" << t.shape().str() << '\n';
    std::size_t printed = 0;
    for (int n = 0; n < t.n() && printed < max_printed; ++n) {
        for (int c = 0; c < t.c() && printed < max_printed; ++c) {
            out << "[" << n << ", " << c << "]\n";
            for (int h = 0; h < t.h() && printed < max_printed; ++h) {
                out << ' ';
                for (int w = 0; w < t.w() && printed < max_printed; ++w, ++printed) {
                    out << ' ' << std::setw(10) << t(n, c, h, w);
                }
                out << '\n';
            }
        }
    }
    if (printed < t.size()) out << "  ... (" << t.size() - printed << " more)\n";
    return out;
}

}  // namespace deepcnn
