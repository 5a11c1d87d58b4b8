// tests/fuzz/make_corpus.cpp: writes the seed corpora of the fuzz targets from real files:
//   make_corpus SAMPLE_CSV_GZ OUTDIR  ->  OUTDIR/fer2013_csv/, OUTDIR/model_file/, OUTDIR/image/, OUTDIR/onnx/
// CSV seeds are a few rows of the FER2013 sample (the first byte is the fuzz target's mode byte: plain, gzip,
// skip_bad_rows, max_rows), model seeds are small Sequential models saved by encode_model after a few Adam or SGD
// steps (every layer type, optimizer state, metadata, float and double), image seeds are FER faces written by
// libstb's stb_image_write as PNG (grey, RGB, RGBA), JPEG, BMP and TGA, plus past findings; ONNX seeds are files
// save_onnx writes (OUTDIR/onnx/; torch_net_opset13.onnx there is a PyTorch export of tests/onnx/torch_net.py,
// kept as it is). Deterministic: same inputs, same bytes.
#include <deepcnn/deepcnn.hpp>

#include <stb_image_write.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace deepcnn;
namespace fs = std::filesystem;

void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    if (!out) throw std::runtime_error("cannot write " + path.string());
    std::printf("%8zu  %s\n", bytes.size(), path.string().c_str());
}

// The CSV line of row `i`, as the FER2013 file writes it.
std::string csv_row(const Fer2013Dataset& data, std::size_t i) {
    std::string line = std::to_string(data.emotions[i]) + ",";
    for (int p = 0; p < fer_image_pixels; ++p) {
        if (p > 0) line += ' ';
        line += std::to_string(data.image(i)[p]);
    }
    return line + "," + usage_name(data.usages[i]);
}

// gzip (RFC 1952) encoding of `text`, with a fixed header (no time stamp), so the seeds are reproducible.
std::string gzip(const std::string& text) {
    z_stream stream{};
    if (deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("zlib");
    std::string out(deflateBound(&stream, static_cast<uLong>(text.size())), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    stream.next_out = reinterpret_cast<Bytef*>(&out[0]);
    stream.avail_out = static_cast<uInt>(out.size());
    const int status = deflate(&stream, Z_FINISH);
    deflateEnd(&stream);
    if (status != Z_STREAM_END) throw std::runtime_error("zlib deflate");
    out.resize(stream.total_out);
    return out;
}

void write_csv_seeds(const Fer2013Dataset& data, const fs::path& dir) {
    const std::string header = "emotion,pixels,Usage\n";
    const std::string two = header + csv_row(data, 0) + "\n" + csv_row(data, 1) + "\n";
    write_bytes(dir / "plain_2rows.csv", std::string(1, '\0') + two);
    write_bytes(dir / "gzip_2rows.csv", std::string(1, '\1') + two);
    write_bytes(dir / "raw_gzip_1row.csv.gz", std::string(1, '\0') + gzip(header + csv_row(data, 2) + "\n"));
    std::string crlf = "\xEF\xBB\xBF" "emotion,pixels,Usage\r\n" + csv_row(data, 1) + " \r\n\r\n" + csv_row(data, 2);
    write_bytes(dir / "bom_crlf_no_final_newline.csv", std::string(1, '\0') + crlf);
    std::string bad = header + "9,1 2 3,Training\n" + csv_row(data, 0).substr(0, 3000) + ",Training\n" +
                      "3,300 1,PublicTest\n" + "1,1 2,Unknown\n" + "1,2,3,4\n" + csv_row(data, 2) + "\n";
    write_bytes(dir / "skip_bad_rows.csv", std::string(1, '\2') + bad);
    write_bytes(dir / "max_rows_1.csv", std::string(1, '\4') + two);
    // CR-only line ends (issue 25), a CR-LF pair split by a blank CR line, and mode bits 4-5 = 2: LineReader's
    // check runs with a 40-byte line limit.
    const std::string cr_only = "emotion,pixels,Usage\r" + csv_row(data, 0) + "\r\r\n" + csv_row(data, 1) + "\r";
    write_bytes(dir / "cr_only.csv", std::string(1, '\x20') + cr_only);
}

// Every layer type the factory knows, on an 8x8 grey input, after two training steps so that the optimizer
// state and the BatchNorm statistics are not the initial values.
template <class Scalar>
std::string small_model(std::uint64_t seed, Optimizer<Scalar>* optimizer, bool dense_only) {
    Sequential<Scalar> model(1, 8, 8, seed);
    if (dense_only) {
        model.add(Flatten<Scalar>());
        model.add(Dense<Scalar>(5));
        model.add(ReLU<Scalar>());
        model.add(Dense<Scalar>(3));
    } else {
        model.add(Conv2D<Scalar>(4, 3));
        model.add(BatchNorm<Scalar>());
        model.add(ReLU<Scalar>());
        model.add(MaxPool2D<Scalar>(2));
        model.add(Conv2D<Scalar>(2, 3, 1).with_stride(1, 1).with_padding(Padding{PaddingMode::valid, 0, 0}));
        model.add(Dropout<Scalar>(0.25));
        model.add(Flatten<Scalar>());
        model.add(Dense<Scalar>(3));
    }
    model.add(Softmax<Scalar>());
    ModelMetadata meta;
    meta.text["classes"] = "happiness\nsadness\nneutral";  // the metadata fer_train writes
    meta.text["emotions"] = "3,4,6";
    meta.text["net"] = "tiny";
    meta.numbers["norm.mean"] = 0.5;
    meta.numbers["norm.std"] = 0.25;
    meta.numbers["tta.flip"] = 0.0;
    meta.integers["epoch"] = 2;
    if (optimizer != nullptr) {
        Rng rng(seed);
        Tensor<Scalar> x(Shape(4, 1, 8, 8));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<Scalar>(rng.uniform());
        SoftmaxCrossEntropy<Scalar> loss;
        for (int step = 0; step < 2; ++step) model.train_step(x, {0, 1, 2, 1}, loss, *optimizer);
    }
    return encode_model(model, meta, optimizer);
}

void write_model_seeds(const fs::path& dir) {
    Adam<float> adam(1e-3);
    write_bytes(dir / "all_layers_adam_float.dcnn", small_model<float>(1, &adam, false));
    write_bytes(dir / "all_layers_no_optimizer_float.dcnn", small_model<float>(2, nullptr, false));
    Sgd<double> sgd(0.01);
    write_bytes(dir / "dense_sgd_double.dcnn", small_model<double>(3, &sgd, true));
}

// ONNX seeds: the files save_onnx writes for a chain of every layer type (with preprocessing and metadata) and for a
// small residual Graph.
void write_onnx_seeds(const fs::path& dir) {
    Sequential<float> chain(Shape(1, 1, 8, 8), 4);
    chain.add(Conv2D<float>(3, 3).with_stride(2).with_padding(Padding::same()));
    chain.add(BatchNorm<float>());
    chain.add(ReLU<float>());
    chain.add(Conv2D<float>(3, 3).with_groups(3).with_padding(Padding::explicit_pad(1, 1)).with_bias(false));
    chain.add(MaxPool2D<float>(2));
    chain.add(AvgPool2D<float>(3, 1).with_padding(Padding::same()));
    chain.add(Dropout<float>(0.5));
    chain.add(Flatten<float>());
    chain.add(Dense<float>(3));
    chain.add(Softmax<float>());
    OnnxExportOptions options;
    options.input_name = "image";
    options.output_name = "probabilities";
    options.preprocessing = Normalization{128.0, 64.0};
    options.class_names = {"happiness", "sadness", "neutral"};
    options.metadata.numbers["norm.mean"] = 128.0;
    options.metadata.integers["epoch"] = 2;
    write_bytes(dir / "chain_all_layers.onnx", encode_onnx(chain, options));
    Graph<float> graph(Shape(1, 2, 6, 6), 5);
    graph.add("conv", Conv2D<float>(2, 3), {"input"});
    graph.add("add", Add<float>(), {"input", "conv"});
    graph.add("join", Concat<float>(), {"add", "input"});
    graph.add("gap", GlobalAvgPool2D<float>(), {"join"});
    graph.add("dense", Dense<float>(2), {"gap"});
    write_bytes(dir / "residual_graph.onnx", encode_onnx(graph));
}

void write_image_seeds(const Fer2013Dataset& data, const fs::path& dir) {
    const std::uint8_t* face = data.image(0);
    const auto name = [&](const char* file) { return (dir / file).string(); };
    bool ok = stbi_write_png(name("face_grey_48.png").c_str(), 48, 48, 1, face, 48) != 0;
    std::vector<std::uint8_t> rgb(24 * 24 * 3), rgba(16 * 16 * 4), grey16(16 * 16);
    for (int y = 0; y < 24; ++y)
        for (int x = 0; x < 24; ++x)
            for (int c = 0; c < 3; ++c)
                rgb[static_cast<std::size_t>((y * 24 + x) * 3 + c)] =
                    static_cast<std::uint8_t>(data.image(1)[(2 * y) * 48 + 2 * x] / (c + 1));
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) {
            const std::uint8_t v = data.image(2)[(3 * y) * 48 + 3 * x];
            grey16[static_cast<std::size_t>(y * 16 + x)] = v;
            for (int c = 0; c < 4; ++c)
                rgba[static_cast<std::size_t>((y * 16 + x) * 4 + c)] = static_cast<std::uint8_t>(c == 3 ? 255 - v : v);
        }
    ok = ok && stbi_write_png(name("face_rgb_24.png").c_str(), 24, 24, 3, rgb.data(), 24 * 3) != 0;
    ok = ok && stbi_write_png(name("face_rgba_16.png").c_str(), 16, 16, 4, rgba.data(), 16 * 4) != 0;
    ok = ok && stbi_write_jpg(name("face_rgb_24.jpg").c_str(), 24, 24, 3, rgb.data(), 90) != 0;
    ok = ok && stbi_write_jpg(name("face_grey_16.jpg").c_str(), 16, 16, 1, grey16.data(), 75) != 0;
    ok = ok && stbi_write_bmp(name("face_rgb_24.bmp").c_str(), 24, 24, 3, rgb.data()) != 0;
    ok = ok && stbi_write_tga(name("face_grey_16.tga").c_str(), 16, 16, 1, grey16.data()) != 0;
    if (!ok) throw std::runtime_error("stb_image_write failed in " + dir.string());
    // Past findings kept as seeds: the grey face with an empty IDAT chunk before its data (after the 8-byte
    // signature and the 25-byte IHDR), which stb_image copied to a null pointer, and the same file cut after
    // that chunk's type.
    std::ifstream png(name("face_grey_48.png"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
    bytes.insert(33, std::string("\0\0\0\0IDAT\x35\xAF\x06\x1E", 12));
    write_bytes(dir / "finding_png_empty_idat.png", bytes);
    write_bytes(dir / "finding_png_empty_idat_cut.png", bytes.substr(0, 41));  // the same, ending before its CRC
    // The colour JPEG with two bytes of its scan data changed, cut inside the scan and closed by an EOI marker:
    // stb_image 2.27 runs out of bits and shifts by 32 or more (tests/fuzz/stb_image_ignorelist.txt).
    std::ifstream jpg(name("face_rgb_24.jpg"), std::ios::binary);
    std::string jpeg((std::istreambuf_iterator<char>(jpg)), std::istreambuf_iterator<char>());
    if (jpeg.size() < 813) throw std::runtime_error("face_rgb_24.jpg is shorter than expected");
    jpeg[705] = '\xFE';
    jpeg[804] = '\x7D';
    write_bytes(dir / "finding_jpeg_scan_ends_early.jpg", jpeg.substr(0, 813) + "\xFF\xD9");
    for (const auto& entry : fs::directory_iterator(dir)) {
        std::printf("%8ju  %s\n", static_cast<std::uintmax_t>(entry.file_size()), entry.path().string().c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: make_corpus SAMPLE_CSV_GZ OUTDIR\n");
        return 2;
    }
    try {
        Fer2013Options options;
        options.max_rows = 3;
        const Fer2013Dataset data = read_fer2013(argv[1], options);
        if (data.size() < 3) throw std::runtime_error(std::string(argv[1]) + ": fewer than 3 rows");
        const fs::path out = argv[2];
        for (const char* target : {"fer2013_csv", "model_file", "image", "onnx"}) fs::create_directories(out / target);
        write_csv_seeds(data, out / "fer2013_csv");
        write_model_seeds(out / "model_file");
        write_image_seeds(data, out / "image");
        write_onnx_seeds(out / "onnx");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_corpus: %s\n", e.what());
        return 1;
    }
}
