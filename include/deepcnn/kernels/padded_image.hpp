// deepcnn/kernels/padded_image.hpp: the zero-padded copy of one image (C, Hp, Wp) that the convolution
// kernels read their windows from, so that no kernel tests bounds, and the loop that splits a batch of them
// between threads.

#ifndef DEEPCNN_ISA_NS
#error "kernels/padded_image.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// The zero-padded copy of one image: (C, Hp, Wp), large enough for every window, plus slack that packers may
// over-read (size counts it).
struct PaddedLayout {
    int Hp = 0, Wp = 0;
    std::size_t size = 0;
};

inline PaddedLayout padded_layout(const ConvGeometry& g) {
    PaddedLayout l;
    l.Hp = std::max(g.pad_top + g.H, (g.OH - 1) * g.stride_h + g.KH);
    l.Wp = std::max(g.pad_left + g.W, (g.OW - 1) * g.stride_w + g.KW);
    l.size = static_cast<std::size_t>(g.C) * l.Hp * l.Wp + 2 * GemmBlocking::NR;
    return l;
}

// The padded copy of dy that a stride-2 3x3 backward-data by broadcast reads (conv2d_broadcast.hpp), as the
// geometry whose padded_layout it is: K channels of OH x OW, a row and a column of zeros above and to the left, and
// below and to the right up to the dy row (H - 1 + pad_top) / 2 and column (W - 1 + pad_left) / 2 that dx reads.
inline ConvGeometry stride2_gradient_geometry(const ConvGeometry& g) {
    ConvGeometry t;
    t.C = g.K, t.H = g.OH, t.W = g.OW, t.K = g.C;
    t.KH = t.KW = 2;
    t.pad_top = t.pad_left = 1;
    t.OH = std::max(g.OH, (g.H - 1 + g.pad_top) / 2 + 1);
    t.OW = std::max(g.OW, (g.W - 1 + g.pad_left) / 2 + 1);
    return t;
}

#if DEEPCNN_ISA_AVX2
// pad_image for float where the layout has 8 scalars of slack: each row is zero vectors over its left padding,
// the image row in vectors (the last one a masked load, its missing lanes zero) and zero vectors over its right
// padding. The vectors may spill up to 8 scalars past what they cover; a row is written left to right and rows in
// order, so whatever a spill writes (zeros) is padding, slack, or written again next. The small rows of deep
// layers cost no library calls.
inline void pad_image_vectors(const ConvGeometry& g, const PaddedLayout& l, const float* x, float* xp) {
    const __m256 zero = _mm256_setzero_ps();
    const int tail = g.W % 8;
    const __m256i tail_mask = first_lanes(tail);
    const std::size_t plane = static_cast<std::size_t>(l.Hp) * l.Wp;
    for (int c = 0; c < g.C; ++c) {
        const float* src = x + static_cast<std::size_t>(c) * g.H * g.W;
        float* dst = xp + c * plane;
        std::fill(dst, dst + static_cast<std::size_t>(g.pad_top) * l.Wp, 0.0f);
        for (int h = 0; h < g.H; ++h, src += g.W) {
            float* row = dst + static_cast<std::size_t>(g.pad_top + h) * l.Wp;
            for (int w = 0; w < g.pad_left; w += 8) _mm256_storeu_ps(row + w, zero);
            float* body = row + g.pad_left;
            int w = 0;
            for (; w + 8 <= g.W; w += 8) _mm256_storeu_ps(body + w, _mm256_loadu_ps(src + w));
            if (tail) _mm256_storeu_ps(body + w, _mm256_maskload_ps(src + w, tail_mask));
            for (w = g.pad_left + g.W; w < l.Wp; w += 8) _mm256_storeu_ps(row + w, zero);
        }
        std::fill(dst + static_cast<std::size_t>(g.pad_top + g.H) * l.Wp, dst + plane, 0.0f);
    }
    std::fill(xp + g.C * plane, xp + l.size, 0.0f);
}
#endif

// xp (C, Hp, Wp) = x (C, H, W) shifted by (pad_top, pad_left), zero elsewhere (slack included).
template <class Scalar>
void pad_image(const ConvGeometry& g, const PaddedLayout& l, const Scalar* x, Scalar* xp) {
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        if (l.size >= static_cast<std::size_t>(g.C) * l.Hp * l.Wp + 8) {
            pad_image_vectors(g, l, x, xp);
            return;
        }
    }
#endif
    const int right = l.Wp - g.pad_left - g.W;
    for (int c = 0; c < g.C; ++c) {
        const Scalar* src = x + static_cast<std::size_t>(c) * g.H * g.W;
        Scalar* dst = xp + static_cast<std::size_t>(c) * l.Hp * l.Wp;
        std::fill(dst, dst + static_cast<std::size_t>(g.pad_top) * l.Wp, Scalar(0));
        dst += static_cast<std::size_t>(g.pad_top) * l.Wp;
        for (int h = 0; h < g.H; ++h, dst += l.Wp, src += g.W) {
            std::fill(dst, dst + g.pad_left, Scalar(0));
            std::copy(src, src + g.W, dst + g.pad_left);
            std::fill(dst + g.pad_left + g.W, dst + g.pad_left + g.W + right, Scalar(0));
        }
        std::fill(dst, dst + static_cast<std::size_t>(l.Hp - g.pad_top - g.H) * l.Wp, Scalar(0));
    }
    const std::size_t body = static_cast<std::size_t>(g.C) * l.Hp * l.Wp;
    std::fill(xp + body, xp + l.size, Scalar(0));
}

// Channels [c0, c1) of an image (C, H, W) padded into their place in xp (layout l, the whole image's), and the
// slack after them zeroed.
inline void pad_channels(const ConvGeometry& g, const PaddedLayout& l, const float* image, int c0, int c1,
                         float* xp) {
    ConvGeometry part = g;
    part.C = c1 - c0;
    PaddedLayout lp = l;
    const std::size_t plane = static_cast<std::size_t>(l.Hp) * l.Wp;
    lp.size = l.size - static_cast<std::size_t>(g.C - part.C) * plane;
    pad_image(part, lp, image + static_cast<std::size_t>(c0) * g.H * g.W, xp + c0 * plane);
}

// Whether a batch smaller than the pool should split each image's rows (filters, in units of row_align) rather than
// its columns (pixels, in units of column_align) between the threads: where the busiest thread's share of the
// units is smaller that way (144 pixels are 3 GEMM panels of 48, 2:1 on 2 threads; 36 pixels are one panel, which
// left the other thread idle).
inline bool rows_split_evener(int rows, int row_align, int columns, int column_align, int threads) {
    const auto busiest = [threads](int count, int align) {
        const int units = (count + align - 1) / align;
        return static_cast<double>((units + threads - 1) / threads) / units;
    };
    return busiest(rows, row_align) < busiest(columns, column_align);
}

// Runs fn(t, n, begin, end) on thread t for every image n of a batch of N. Threads split the images, each done
// whole (begin, end = 0, parts); when the batch is smaller than the pool, every thread does its share
// [begin, end) of `parts` units (rows, pixels, filters: the caller's) of every image, in multiples of `align`.
template <class F>
void for_each_image_part(int N, ThreadPool* pool, int parts, int align, F&& fn) {
    const int threads = pool ? pool->size() : 1;
    pool_run(pool, threads, [&](int t) {
        const bool by_images = N >= threads;
        int begin = 0, end = 0;
        split_range(by_images ? N : parts, threads, t, by_images ? 1 : align, begin, end);
        if (begin == end) return;
        for (int n = by_images ? begin : 0; n < (by_images ? end : N); ++n)
            fn(t, n, by_images ? 0 : begin, by_images ? parts : end);
    });
}

// Runs fn(xp, n, begin, end) for every image n of a batch x (N, C, H, W), split as for_each_image_part does, each
// copied first into the calling thread's padded buffer xp (`thread_scalars` apart in `workspace`; the rest of the
// thread's part is its own scratch). When the batch is smaller than the pool, every thread pads every image.
template <class Scalar, class F>
void for_each_padded_image(const ConvGeometry& g, int N, const Scalar* x, Scalar* workspace,
                           std::size_t thread_scalars, ThreadPool* pool, int parts, int align, F&& fn) {
    const PaddedLayout l = padded_layout(g);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    for_each_image_part(N, pool, parts, align, [&](int t, int n, int begin, int end) {
        Scalar* xp = workspace + static_cast<std::size_t>(t) * thread_scalars;
        pad_image(g, l, x + n * in_size, xp);
        fn(xp, n, begin, end);
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
