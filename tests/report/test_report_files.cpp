// Tests for the report files: JSON writer and report.json, history.csv, atomic file writes, PNG and base64,
// and the SVG pictures (well-formed XML with the expected labels).
#include <catch2/catch.hpp>

#include <deepcnn/io/atomic_file.hpp>
#include <deepcnn/report/history.hpp>
#include <deepcnn/report/json.hpp>
#include <deepcnn/report/metrics.hpp>
#include <deepcnn/report/plots.hpp>
#include <deepcnn/report/png.hpp>
#include <deepcnn/report/run_report.hpp>
#include <deepcnn/report/svg.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace deepcnn;

namespace {

// A fresh directory under /tmp, removed with its files at scope exit.
class TempDir {
public:
    TempDir() {
        char name[] = "/tmp/deepcnn_report_XXXXXX";
        if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = name;
    }
    ~TempDir() {
        for (const std::string& f : files()) ::unlink((path_ + "/" + f).c_str());
        ::rmdir(path_.c_str());
    }
    const std::string& path() const { return path_; }
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        if (DIR* dir = ::opendir(path_.c_str())) {
            while (dirent* e = ::readdir(dir)) {
                const std::string n = e->d_name;
                if (n != "." && n != "..") out.push_back(n);
            }
            ::closedir(dir);
        }
        return out;
    }

private:
    std::string path_;
};

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A minimal well-formedness check of XML as our SVG writer produces it: one root element, every start tag closed
// in order, attribute values quoted, no raw '<' or unknown '&' entity in text or attributes. Returns "" when the
// document is well formed, otherwise what is wrong and where.
std::string xml_problem(const std::string& xml) {
    std::vector<std::string> stack;
    bool root_seen = false;
    std::size_t i = 0;
    auto check_entities = [&](std::size_t from, std::size_t to) -> std::string {
        for (std::size_t j = from; j < to; ++j) {
            if (xml[j] == '<') return "raw '<' at " + std::to_string(j);
            if (xml[j] == '&') {
                const std::size_t semi = xml.find(';', j);
                const std::string ent = semi == std::string::npos ? "" : xml.substr(j, semi - j + 1);
                if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") {
                    return "bad entity at " + std::to_string(j);
                }
            }
        }
        return "";
    };
    if (xml.compare(0, 5, "<?xml") == 0) {
        i = xml.find("?>");
        if (i == std::string::npos) return "unterminated XML declaration";
        i += 2;
    }
    while (i < xml.size()) {
        const std::size_t lt = xml.find('<', i);
        const std::size_t text_end = lt == std::string::npos ? xml.size() : lt;
        const std::string text_problem = check_entities(i, text_end);
        if (!text_problem.empty()) return text_problem;
        if (stack.empty() && xml.find_first_not_of(" \t\r\n", i) < text_end) {
            return "text outside the root element at " + std::to_string(i);
        }
        if (lt == std::string::npos) break;
        const bool closing = lt + 1 < xml.size() && xml[lt + 1] == '/';
        std::size_t j = lt + (closing ? 2 : 1);
        const std::size_t name_end = xml.find_first_of(" \t\r\n/>", j);
        if (name_end == std::string::npos || name_end == j) return "bad tag at " + std::to_string(lt);
        const std::string name = xml.substr(j, name_end - j);
        j = name_end;
        // Attributes: name="value" pairs up to '>' or '/>'.
        while (j < xml.size() && xml[j] != '>' && xml[j] != '/') {
            if (std::isspace(static_cast<unsigned char>(xml[j]))) {
                ++j;
                continue;
            }
            const std::size_t eq = xml.find('=', j);
            if (eq == std::string::npos || eq + 1 >= xml.size() || xml[eq + 1] != '"') {
                return "unquoted attribute in <" + name + "> at " + std::to_string(j);
            }
            const std::size_t close = xml.find('"', eq + 2);
            if (close == std::string::npos) return "unterminated attribute in <" + name + ">";
            const std::string attr_problem = check_entities(eq + 2, close);
            if (!attr_problem.empty()) return attr_problem + " in <" + name + ">";
            j = close + 1;
        }
        if (j >= xml.size()) return "unterminated tag <" + name + ">";
        const bool self_closing = xml[j] == '/';
        if (self_closing && (j + 1 >= xml.size() || xml[j + 1] != '>')) return "bad '/' in <" + name + ">";
        i = j + (self_closing ? 2 : 1);
        if (closing) {
            if (stack.empty() || stack.back() != name) return "</" + name + "> does not close the open element";
            stack.pop_back();
        } else if (!self_closing) {
            if (stack.empty() && root_seen) return "second root element <" + name + ">";
            root_seen = true;
            stack.push_back(name);
        } else if (stack.empty()) {
            return "self-closing root element";
        }
    }
    if (!stack.empty()) return "<" + stack.back() + "> never closed";
    if (!root_seen) return "no root element";
    return "";
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
}

std::vector<EpochRecord> sample_history() {
    std::vector<EpochRecord> h(3);
    for (int e = 1; e <= 3; ++e) {
        EpochRecord& r = h[static_cast<std::size_t>(e - 1)];
        r.epoch = e;
        r.train_loss = 1.0 / e;
        r.train_accuracy = 0.5 + 0.1 * e;
        r.val_loss = 1.2 / e;
        r.val_accuracy = 0.45 + 0.1 * e;
        r.learning_rate = 0.001;
        r.seconds = 60.5;
        r.images_per_second = 281.25;
    }
    return h;
}

std::vector<Prediction> sample_predictions() {
    std::vector<Prediction> items;
    for (int i = 0; i < 8; ++i) {
        Prediction p;
        p.pixels.assign(48 * 48, static_cast<std::uint8_t>(30 * i));
        p.true_label = i % 3;
        p.predicted_label = i == 5 ? 0 : i % 3;  // one mistake: "happiness / sadness"
        p.probability = 0.5 + 0.05 * i;
        items.push_back(p);
    }
    return items;
}

const std::vector<std::string> names = {"happiness", "neutral", "sadness"};

}  // namespace

TEST_CASE("json_quote escapes quotes, backslashes and control characters", "[report][json]") {
    CHECK(json_quote("plain") == "\"plain\"");
    CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json_quote("line\nnext\ttab\r\b\f") == "\"line\\nnext\\ttab\\r\\b\\f\"");
    CHECK(json_quote(std::string("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
    CHECK(json_quote(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
    CHECK(json_quote("/ and \x7f stay") == "\"/ and \x7f stay\"");
}

TEST_CASE("json_quote passes UTF-8 through and replaces invalid bytes", "[report][json]") {
    CHECK(json_quote("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\"");
    CHECK(json_quote("\xff") == "\"\\ufffd\"");
    CHECK(json_quote("\xc3") == "\"\\ufffd\"");                       // truncated sequence
    CHECK(json_quote("\xc0\xaf") == "\"\\ufffd\\ufffd\"");            // overlong '/'
    CHECK(json_quote("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // UTF-16 surrogate
    CHECK(json_quote("\x80x") == "\"\\ufffdx\"");                     // stray continuation byte
}

TEST_CASE("json_number: shortest round trip, null for non-finite", "[report][json]") {
    CHECK(json_number(0.1) == "0.1");
    CHECK(json_number(3.0) == "3");
    CHECK(json_number(-2.5) == "-2.5");
    CHECK(json_number(1e-5) == "1e-05");
    CHECK(std::strtod(json_number(1.0 / 3).c_str(), nullptr) == 1.0 / 3);
    CHECK(json_number(NAN) == "null");
    CHECK(json_number(INFINITY) == "null");
    CHECK(json_number(-INFINITY) == "null");
}

TEST_CASE("JsonWriter writes nested objects and arrays", "[report][json]") {
    JsonWriter json;
    json.begin_object()
        .field("name", "fer")
        .field("epochs", 3)
        .field("ok", true)
        .field("loss", NAN)
        .key("classes")
        .array(std::vector<std::string>{"a", "b"})
        .key("empty")
        .begin_array()
        .end_array()
        .key("nested")
        .begin_object()
        .field("x", 0.5)
        .end_object()
        .end_object();
    CHECK(json.str() ==
          "{\n"
          "  \"name\": \"fer\",\n"
          "  \"epochs\": 3,\n"
          "  \"ok\": true,\n"
          "  \"loss\": null,\n"
          "  \"classes\": [\"a\", \"b\"],\n"
          "  \"empty\": [],\n"
          "  \"nested\": {\n"
          "    \"x\": 0.5\n"
          "  }\n"
          "}\n");

    JsonWriter compact(0);
    compact.begin_array().value(1).value("two").null().begin_object().field("k", -1).end_object().end_array();
    CHECK(compact.str() == "[1,\"two\",null,{\"k\":-1}]\n");
}

TEST_CASE("JsonWriter rejects misuse", "[report][json]") {
    JsonWriter a;
    a.begin_object();
    CHECK_THROWS_WITH(a.value(1), "JsonWriter: value in an object without a key");
    CHECK_THROWS_AS(a.end_array(), error);
    CHECK_THROWS_WITH(a.str(), "JsonWriter::str: 1 unclosed container(s)");
    JsonWriter b;
    b.begin_array();
    CHECK_THROWS_WITH(b.key("k"), "JsonWriter: key(\"k\") outside an object");
    JsonWriter c;
    c.value(1);
    CHECK_THROWS_WITH(c.value(2), "JsonWriter: a second top-level value");
    CHECK_THROWS_WITH(JsonWriter().str(), "JsonWriter::str: no value written");
}

TEST_CASE("report_json holds classes, sizes, test metrics, confusion matrix and run facts", "[report][json]") {
    RunReport report;
    report.classes = names;
    report.split_sizes = {{"train", 17010}, {"validation", 2100}, {"test", 2111}};
    report.test_confusion = confusion_matrix({0, 0, 0, 0, 1, 1, 1, 2, 2, 2}, {0, 0, 1, 2, 1, 1, 0, 2, 2, 1}, 3);
    report.epochs = 12;
    report.best_epoch = 9;
    report.best_val_accuracy = 0.75;
    report.wall_seconds = 1234.5;
    report.images_per_second = 300;
    report.command_line = {"fer_train", "--data", "my data/fer.csv", "--note", "it's"};
    report.seed = 42;
    report.settings = {{"net", "fer"}};
    const std::string json = report_json(report);

    CHECK(json.find("\"classes\": [\"happiness\", \"neutral\", \"sadness\"]") != std::string::npos);
    CHECK(json.find("\"split_sizes\": {\n    \"train\": 17010,\n    \"validation\": 2100,\n    \"test\": 2111\n  }") !=
          std::string::npos);
    CHECK(json.find("\"accuracy\": 0.6,") != std::string::npos);
    CHECK(json.find("\"correct\": 6,") != std::string::npos);
    CHECK(json.find("\"loss\": null") != std::string::npos);
    CHECK(json.find("\"class\": \"neutral\",\n        \"precision\": 0.5,\n        \"recall\": 0.6666666666666666,") !=
          std::string::npos);
    CHECK(json.find("\"counts\": [\n        [2, 1, 1],\n        [1, 2, 0],\n        [0, 1, 2]\n      ]") !=
          std::string::npos);
    CHECK(json.find("\"epochs\": 12,") != std::string::npos);
    CHECK(json.find("\"best_epoch\": 9,") != std::string::npos);
    CHECK(json.find("\"wall_seconds\": 1234.5,") != std::string::npos);
    CHECK(json.find("\"train_seconds\": null,") != std::string::npos);
    CHECK(json.find("\"command_line\": \"fer_train --data 'my data/fer.csv' --note 'it'\\\\''s'\"") !=
          std::string::npos);
    CHECK(json.find("\"seed\": 42,") != std::string::npos);
    CHECK(json.find("\"settings\": {\n    \"net\": \"fer\"\n  }") != std::string::npos);
    CHECK(count_of(json, "{") == count_of(json, "}"));
    CHECK(count_of(json, "[") == count_of(json, "]"));

    report.classes = {"a"};
    CHECK_THROWS_WITH(report_json(report), "report_json: expected 3 class names, got 1");
    CHECK(report_json(RunReport()).find("\"accuracy\": null") != std::string::npos);
}

TEST_CASE("history.csv has a header and one row per epoch and reads back", "[report][history]") {
    std::vector<EpochRecord> h = sample_history();
    h[2].val_loss = NAN;
    const std::string csv = history_csv(h);
    CHECK(csv ==
          "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second\n"
          "1,1.000000,0.600000,1.200000,0.550000,0.001,60.500,281.2\n"
          "2,0.500000,0.700000,0.600000,0.650000,0.001,60.500,281.2\n"
          "3,0.333333,0.800000,nan,0.750000,0.001,60.500,281.2\n");

    TempDir dir;
    const std::string path = dir.path() + "/history.csv";
    write_history_csv(path, h);
    CHECK(read_all(path) == csv);
    const std::vector<EpochRecord> back = read_history_csv(path);
    REQUIRE(back.size() == 3);
    CHECK(back[1].epoch == 2);
    CHECK(back[1].val_accuracy == Approx(0.65));
    CHECK(std::isnan(back[2].val_loss));
    CHECK(back[2].images_per_second == Approx(281.2));
}

TEST_CASE("parse_history_csv reports the line of a defect", "[report][history]") {
    const std::string header = std::string(history_csv_header()) + "\n";
    CHECK_THROWS_WITH(parse_history_csv("epoch,loss\n", "h.csv"),
                      "h.csv:1: expected header '" + std::string(history_csv_header()) + "', got 'epoch,loss'");
    CHECK_THROWS_WITH(parse_history_csv(header + "1,2,3\n", "h.csv"), "h.csv:2: expected 8 fields, got 3");
    CHECK_THROWS_WITH(parse_history_csv(header + "1,0.5,x,1,1,1,1,1\r\n", "h.csv"),
                      "h.csv:2: field 3: expected a number, got 'x'");
    CHECK_THROWS_WITH(parse_history_csv("", "h.csv"),
                      "h.csv: empty file, expected header '" + std::string(history_csv_header()) + "'");
    CHECK(parse_history_csv(header + "\r\n").empty());
    CHECK_THROWS_AS(read_history_csv("/nonexistent/history.csv"), io_error);
}

TEST_CASE("write_file_atomically writes, replaces and leaves no temporary file", "[report][io]") {
    TempDir dir;
    const std::string path = dir.path() + "/model.bin";
    write_file_atomically(path, std::string("first version"));
    CHECK(read_all(path) == "first version");
    const std::string binary("\x00\x01\xff\n", 4);
    write_file_atomically(path, binary);
    CHECK(read_all(path) == binary);
    CHECK(dir.files() == std::vector<std::string>{"model.bin"});

    // A stale temporary from a crashed run is replaced, not appended to.
    std::ofstream(path + ".tmp") << "stale junk that is longer than the new contents";
    write_file_atomically(path, std::string("third"));
    CHECK(read_all(path) == "third");
    CHECK(dir.files() == std::vector<std::string>{"model.bin"});

    write_file_atomically(dir.path() + "/empty", std::string());
    CHECK(read_all(dir.path() + "/empty").empty());
}

TEST_CASE("write_file_atomically throws io_error naming the path", "[report][io]") {
    CHECK_THROWS_AS(write_file_atomically("/nonexistent_dir/x/report.json", std::string("{}")), io_error);
    CHECK_THROWS_WITH(write_file_atomically("/nonexistent_dir/x/report.json", std::string("{}")),
                      Catch::Contains("'/nonexistent_dir/x/report.json.tmp'"));
    CHECK_THROWS_AS(write_file_atomically("", std::string("x")), io_error);

    // Renaming over a directory fails after the temporary is written: the temporary must be removed.
    TempDir dir;
    const std::string target = dir.path() + "/taken";
    REQUIRE(::mkdir(target.c_str(), 0700) == 0);
    CHECK_THROWS_WITH(write_file_atomically(target, std::string("x")), Catch::Contains("cannot rename"));
    CHECK(dir.files() == std::vector<std::string>{"taken"});
    ::rmdir(target.c_str());
}

TEST_CASE("base64 and PNG encoding", "[report][png]") {
    CHECK(detail::base64_encode("") == "");
    CHECK(detail::base64_encode("M") == "TQ==");
    CHECK(detail::base64_encode("Ma") == "TWE=");
    CHECK(detail::base64_encode("Man") == "TWFu");
    CHECK(detail::base64_encode(std::string("\xff\xfe\x00", 3)) == "//4A");

    // 3 x 2 grey image: check the signature, IHDR and the decompressed, "up"-filtered scanlines.
    const std::uint8_t pixels[] = {0, 128, 255, 10, 138, 5};
    const std::string png = encode_png(pixels, 3, 2, 1);
    REQUIRE(png.size() > 8 + 25 + 12 + 12);
    CHECK(png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0);
    CHECK(png.compare(8, 8, std::string("\0\0\0\x0dIHDR", 8)) == 0);
    CHECK(png.compare(16, 10, std::string("\0\0\0\x03\0\0\0\x02\x08\x00", 10)) == 0);
    CHECK(png.compare(png.size() - 12, 12, std::string("\0\0\0\0IEND\xae\x42\x60\x82", 12)) == 0);
    const std::size_t idat = png.find("IDAT");
    REQUIRE(idat != std::string::npos);
    const auto* len_bytes = reinterpret_cast<const unsigned char*>(png.data() + idat - 4);
    const std::size_t len = (std::size_t(len_bytes[0]) << 24) | (std::size_t(len_bytes[1]) << 16) |
                            (std::size_t(len_bytes[2]) << 8) | std::size_t(len_bytes[3]);
    std::vector<unsigned char> raw(8);
    uLongf raw_len = static_cast<uLongf>(raw.size());
    REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(png.data() + idat + 4),
                       static_cast<uLong>(len)) == Z_OK);
    CHECK(raw_len == 8);
    CHECK(raw == std::vector<unsigned char>{0, 0, 128, 255, 2, 10, 10, 6});  // row 2 minus row 1, mod 256

    CHECK(png_data_uri("Man") == "data:image/png;base64,TWFu");
    CHECK_THROWS_AS(encode_png(pixels, 3, 2, 2), config_error);
    CHECK_THROWS_AS(encode_png(pixels, 0, 2, 1), config_error);
}

TEST_CASE("SvgDocument escapes text and writes a well-formed file", "[report][svg]") {
    CHECK(xml_escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
    CHECK(xml_escape(std::string("x\x01y")) == "x?y");
    SvgDocument svg(100, 50);
    svg.set_title("T & <title>");
    svg.text(10, 20, "<tag> & \"quoted\"");
    svg.line(0, 0, 10, 10, "#000000", 1, "4 3");
    svg.polyline({{0, 0}, {1.234, 5.678}}, "red");
    const std::string text = svg.str();
    CHECK(xml_problem(text) == "");
    CHECK(text.find("&lt;tag&gt; &amp; &quot;quoted&quot;") != std::string::npos);
    CHECK(text.find("points=\"0,0 1.23,5.68\"") != std::string::npos);
    CHECK(xml_problem("<svg><g></svg></g>") != "");  // the checker itself catches mis-nesting
    CHECK(xml_problem("<svg a=b/>") != "");
}

TEST_CASE("curves.svg: two well-formed panels with legend and labels", "[report][svg]") {
    std::vector<EpochRecord> h = sample_history();
    h[1].val_loss = NAN;  // a gap in one line must not break the file
    const std::string svg = curves_svg(h, "Training <fer>");
    CHECK(xml_problem(svg) == "");
    CHECK(svg.find("width=\"900\" height=\"380\"") != std::string::npos);
    for (const char* label : {"Training &lt;fer&gt;", ">Loss<", ">Accuracy<", ">train<", ">validation<", ">epoch<",
                              "best validation: 75.0% at epoch 3", ">80%<"}) {
        CAPTURE(label);
        CHECK(svg.find(label) != std::string::npos);
    }
    CHECK(count_of(svg, "<polyline") >= 3);
    CHECK(xml_problem(curves_svg({})) == "");
    CHECK(curves_svg({}).find("no epochs recorded") != std::string::npos);
    CHECK(xml_problem(curves_svg({sample_history()[0]})) == "");
}

TEST_CASE("confusion.svg: heat map with counts, shares, class names and accuracy", "[report][svg]") {
    const ConfusionMatrix cm =
        confusion_matrix({0, 0, 0, 0, 1, 1, 1, 2, 2, 2}, {0, 0, 1, 2, 1, 1, 0, 2, 2, 1}, 3);
    const std::string svg = confusion_svg(cm, names, "Confusion matrix");
    CHECK(xml_problem(svg) == "");
    for (const char* label : {"Confusion matrix: accuracy 60.00% (6 / 10)", ">happiness<", ">neutral<", ">sadness<",
                              ">true<", ">predicted<", ">50.0%<", ">66.7%<", ">n = 4<", ">100%<"}) {
        CAPTURE(label);
        CHECK(svg.find(label) != std::string::npos);
    }
    CHECK(count_of(svg, ">happiness<") == 2);  // row and column header
    CHECK_THROWS_WITH(confusion_svg(cm, {"x"}), "confusion_svg: expected 3 class names, got 1");

    // Seven long names are rotated under the columns instead of overlapping.
    ConfusionMatrix seven(7);
    seven.add(3, 3, 100);
    const std::string wide = confusion_svg(seven, {"anger", "disgust", "fear", "happiness", "sadness", "surprise",
                                                   "neutral-but-long"});
    CHECK(xml_problem(wide) == "");
    CHECK(wide.find("rotate(-45") != std::string::npos);
}

TEST_CASE("predictions.svg: captioned face grid, mistakes in red", "[report][svg]") {
    const std::vector<Prediction> items = sample_predictions();
    const std::string svg = predictions_svg(items, names, 4);
    CHECK(xml_problem(svg) == "");
    CHECK(count_of(svg, "<image ") == 8);
    CHECK(count_of(svg, "xlink:href=\"data:image/png;base64,iVBORw0KGgo") == 8);  // PNG signature in base64
    CHECK(svg.find("Test predictions: 7 of 8 correct") != std::string::npos);
    const std::string red = detail::mistake_rgb().hex(), green = detail::correct_rgb().hex();
    CHECK(svg.find("fill=\"" + red + "\" font-weight=\"bold\">happiness / sadness<") != std::string::npos);
    CHECK(svg.find("fill=\"" + green + "\">neutral / neutral<") != std::string::npos);
    CHECK(count_of(svg, "stroke=\"" + red + "\" stroke-width=\"3\"") == 2);  // the legend swatch and one frame
    CHECK(svg.find("\xe2\x9c\x97 75%") != std::string::npos);              // "✗ 75%" under the mistake

    std::vector<Prediction> bad = items;
    bad[2].pixels.resize(10);
    CHECK_THROWS_WITH(predictions_svg(bad, names), "predictions_svg: image 2 is 48x48 but has 10 pixels");
    bad = items;
    bad[1].predicted_label = 3;
    CHECK_THROWS_WITH(predictions_svg(bad, names), "predictions_svg: image 1: label 3 is not one of the 3 classes");
    CHECK(xml_problem(predictions_svg({}, names)) == "");
}

TEST_CASE("predictions.png is a PNG of the grid", "[report][png]") {
    const std::string png = predictions_png(sample_predictions(), names, 4);
    CHECK(png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0);
    CHECK(png.compare(12, 4, "IHDR") == 0);
    const auto* p = reinterpret_cast<const unsigned char*>(png.data());
    const int width = (p[16] << 24) | (p[17] << 16) | (p[18] << 8) | p[19];
    const int height = (p[20] << 24) | (p[21] << 16) | (p[22] << 8) | p[23];
    CHECK(width >= 4 * 96);
    CHECK(height >= 2 * 96);
}

TEST_CASE("grey_pixels maps a value range to 0..255, spread_indices samples evenly", "[report][plots]") {
    const float values[] = {-1.f, 0.f, 0.5f, 1.f, 2.f, NAN};
    CHECK(grey_pixels(values, 6) == std::vector<std::uint8_t>{0, 0, 128, 255, 255, 0});
    const double normalised[] = {-2.0, 0.0, 2.0};
    CHECK(grey_pixels(normalised, 3, -2.0, 2.0) == std::vector<std::uint8_t>{0, 128, 255});
    CHECK(spread_indices(10, 4) == std::vector<std::size_t>{0, 2, 5, 7});
    CHECK(spread_indices(3, 5) == std::vector<std::size_t>{0, 1, 2});
}
