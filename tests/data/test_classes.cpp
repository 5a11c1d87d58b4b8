// tests/data/test_classes.cpp: emotion counts, the class table and class selection (k largest, named, all,
// unknown names) on the shared FER2013 sample, checked against counts computed here independently.
#include <catch2/catch.hpp>

#include <deepcnn/data/classes.hpp>

#include <array>
#include <fstream>
#include <string>
#include <vector>

using namespace deepcnn;

namespace {

const std::string sample_path = std::string(DEEPCNN_SHARED_DIR) + "/data/fer2013_sample.csv";

// Emotion counts of a FER2013 CSV by a plain reading: the text before the first comma of each line after the
// header.
std::array<std::size_t, 7> count_independently(const std::string& path) {
    std::array<std::size_t, 7> counts{};
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        ++counts.at(static_cast<std::size_t>(std::stoi(line.substr(0, line.find(',')))));
    }
    return counts;
}

}  // namespace

TEST_CASE("count_emotions matches an independent count of the shared sample", "[data][classes]") {
    const Fer2013Dataset data = read_fer2013(sample_path);
    const std::array<std::size_t, 7> expected = count_independently(sample_path);
    const std::vector<ClassCount> counts = count_emotions(data);
    REQUIRE(counts.size() == 7);
    std::size_t total = 0;
    for (std::size_t e = 0; e < 7; ++e) {
        CHECK(counts[e].emotion == static_cast<int>(e));
        CHECK(counts[e].name == fer_emotion_names()[e]);
        CHECK(counts[e].count == expected[e]);
        CHECK(counts[e].share == Approx(static_cast<double>(expected[e]) / 700.0));
        total += counts[e].count;
    }
    CHECK(total == 700);
    // The README's table, summed over the splits.
    CHECK(expected == std::array<std::size_t, 7>{95, 14, 99, 175, 118, 78, 121});
}

TEST_CASE("select_largest keeps the k most frequent emotions in descending order", "[data][classes]") {
    const std::vector<ClassCount> counts = count_emotions(read_fer2013(sample_path));
    const ClassSelection three = select_largest(counts);
    CHECK(three.emotions == std::vector<int>{3, 6, 4});
    CHECK(three.names == std::vector<std::string>{"happiness", "neutral", "sadness"});
    CHECK(three.size() == 3);
    CHECK(three.label_of(3) == 0);
    CHECK(three.label_of(6) == 1);
    CHECK(three.label_of(4) == 2);
    CHECK(three.label_of(0) == -1);

    const ClassSelection one = select_largest(counts, 1);
    CHECK(one.names == std::vector<std::string>{"happiness"});
    CHECK(select_largest(counts, 7).emotions == std::vector<int>{3, 6, 4, 2, 0, 5, 1});
    CHECK_THROWS_AS(select_largest(counts, 0), config_error);
    CHECK_THROWS_AS(select_largest(counts, 8), config_error);
}

TEST_CASE("select_largest breaks ties by the lower emotion code", "[data][classes]") {
    std::vector<ClassCount> counts;
    for (int e = 0; e < 7; ++e)
        counts.push_back(ClassCount{e, fer_emotion_names()[static_cast<std::size_t>(e)], 10, 0.0});
    counts[5].count = 20;
    CHECK(select_largest(counts, 3).emotions == std::vector<int>{5, 0, 1});
}

TEST_CASE("select_classes parses all, k and names, and rejects unknown names", "[data][classes]") {
    const std::vector<ClassCount> counts = count_emotions(read_fer2013(sample_path));
    CHECK(select_classes("", counts).emotions == std::vector<int>{3, 6, 4});
    CHECK(select_classes("2", counts).emotions == std::vector<int>{3, 6});
    const ClassSelection all = select_classes("all", counts);
    CHECK(all.emotions == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    CHECK(all.names ==
          std::vector<std::string>{"anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"});
    const ClassSelection named = select_classes("sadness, Happy,surprise", counts);
    CHECK(named.emotions == std::vector<int>{4, 3, 5});
    CHECK(named.names == std::vector<std::string>{"sadness", "happiness", "surprise"});

    CHECK_THROWS_AS(select_classes("happiness,joy", counts), config_error);
    CHECK_THROWS_WITH(select_classes("happiness,joy", counts),
                      "unknown class \"joy\": expected one of anger, disgust, fear, happiness, sadness, surprise, "
                      "neutral (or all)");
    CHECK_THROWS_WITH(select_classes("fear,fear", counts), "class \"fear\" is given twice");
    CHECK_THROWS_AS(select_classes("0", counts), config_error);
    CHECK_THROWS_AS(select_classes("123", counts), config_error);
}

TEST_CASE("format_class_table prints one line per class and the total", "[data][classes]") {
    const std::vector<ClassCount> counts = by_descending_count(count_emotions(read_fer2013(sample_path)));
    const std::string table = format_class_table(counts);
    CHECK(table ==
          "emotion     code   count   share\n"
          "happiness      3     175   25.0%\n"
          "neutral        6     121   17.3%\n"
          "sadness        4     118   16.9%\n"
          "fear           2      99   14.1%\n"
          "anger          0      95   13.6%\n"
          "surprise       5      78   11.1%\n"
          "disgust        1      14    2.0%\n"
          "total                700  100.0%\n");
}

TEST_CASE("select_classes on data holding only some emotions keeps those", "[data][classes]") {
    // Like examples/data/fer2013_sample3.csv.gz: only happiness, sadness and neutral have rows.
    std::vector<ClassCount> counts;
    for (int e = 0; e < 7; ++e)
        counts.push_back(ClassCount{e, fer_emotion_names()[static_cast<std::size_t>(e)], 0, 0.0});
    counts[3].count = 804;
    counts[4].count = 543;
    counts[6].count = 553;
    const ClassSelection all = select_classes("all", counts);
    CHECK(all.emotions == std::vector<int>{3, 4, 6});
    CHECK(all.names == std::vector<std::string>{"happiness", "sadness", "neutral"});
    CHECK(select_classes("", counts).emotions == std::vector<int>{3, 6, 4});
    CHECK_THROWS_WITH(select_classes("4", counts),
                      "cannot keep the 4 largest classes: only 3 emotions have rows in the data");
    CHECK_THROWS_WITH(select_classes("happiness,fear", counts), "class \"fear\" has no rows in the data");
    CHECK_THROWS_AS(select_classes("all", std::vector<ClassCount>(7)), config_error);
}
