// deepcnn/data/classes.hpp: class selection for FER2013 as in the tutorial: count the emotions, print a
// table (name, count, share), keep the k largest, named classes or all 7, remapped to labels 0..k-1.
// Reading the file is io/fer2013.hpp's job; turning selected rows into tensors is data/split.hpp's.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/fer2013.hpp"

namespace deepcnn {

// One emotion's row count in a data set.
struct ClassCount {
    int emotion = 0;   // 0..6
    std::string name;  // fer_emotion_names()[emotion]
    std::size_t count = 0;
    double share = 0.0;  // count / total rows, 0 for an empty data set
};

// The classes a model learns: label i (0..size()-1) stands for emotion emotions[i], named names[i].
struct ClassSelection {
    std::vector<int> emotions;
    std::vector<std::string> names;

    int size() const { return static_cast<int>(emotions.size()); }
    // The label of an emotion code, or -1 if that emotion is not selected.
    int label_of(int emotion) const {
        for (std::size_t i = 0; i < emotions.size(); ++i) {
            if (emotions[i] == emotion) return static_cast<int>(i);
        }
        return -1;
    }
};

// The count of each emotion over all rows of `data`, in emotion order 0..6 (all 7, zero counts included).
inline std::vector<ClassCount> count_emotions(const Fer2013Dataset& data) {
    std::array<std::size_t, fer_emotion_count> counts{};
    for (int emotion : data.emotions) ++counts[static_cast<std::size_t>(emotion)];
    std::vector<ClassCount> table;
    for (int e = 0; e < fer_emotion_count; ++e) {
        ClassCount entry;
        entry.emotion = e;
        entry.name = fer_emotion_names()[static_cast<std::size_t>(e)];
        entry.count = counts[static_cast<std::size_t>(e)];
        entry.share = data.empty() ? 0.0 : static_cast<double>(entry.count) / static_cast<double>(data.size());
        table.push_back(entry);
    }
    return table;
}

// The counts sorted by descending count (ties: lower emotion code first), the order select_largest keeps.
inline std::vector<ClassCount> by_descending_count(std::vector<ClassCount> counts) {
    std::stable_sort(counts.begin(), counts.end(), [](const ClassCount& a, const ClassCount& b) {
        return a.count != b.count ? a.count > b.count : a.emotion < b.emotion;
    });
    return counts;
}

// A printable table, one line per entry in the given order, then the total:
//   emotion     code   count   share
//   happiness      3    8989   25.0%
inline std::string format_class_table(const std::vector<ClassCount>& counts) {
    std::string out = "emotion     code   count   share\n";
    std::size_t total = 0;
    double total_share = 0.0;
    char line[96];
    for (const ClassCount& entry : counts) {
        std::snprintf(line, sizeof line, "%-10s %5d %7zu  %5.1f%%\n", entry.name.c_str(), entry.emotion, entry.count,
                      100.0 * entry.share);
        out += line;
        total += entry.count;
        total_share += entry.share;
    }
    std::snprintf(line, sizeof line, "%-10s %5s %7zu  %5.1f%%\n", "total", "", total, 100.0 * total_share);
    out += line;
    return out;
}

// The k most frequent emotions in `counts` (any order), labelled 0..k-1 by descending count (ties: lower
// emotion code first). Throws config_error unless 1 <= k <= 7 and at least k emotions have rows.
inline ClassSelection select_largest(const std::vector<ClassCount>& counts, int k = 3) {
    if (k < 1 || k > static_cast<int>(counts.size()) || k > fer_emotion_count) {
        throw config_error("select_largest: expected 1 <= k <= " + std::to_string(counts.size()) + ", got " +
                           std::to_string(k));
    }
    const std::vector<ClassCount> sorted = by_descending_count(counts);
    if (sorted[static_cast<std::size_t>(k - 1)].count == 0) {
        const auto present =
            std::count_if(counts.begin(), counts.end(), [](const ClassCount& c) { return c.count > 0; });
        throw config_error("cannot keep the " + std::to_string(k) + " largest classes: only " +
                           std::to_string(present) + " emotions have rows in the data");
    }
    ClassSelection selection;
    for (int i = 0; i < k; ++i) {
        selection.emotions.push_back(sorted[static_cast<std::size_t>(i)].emotion);
        selection.names.push_back(sorted[static_cast<std::size_t>(i)].name);
    }
    return selection;
}

// All 7 emotions, label = emotion code.
inline ClassSelection select_all_classes() {
    ClassSelection selection;
    for (int e = 0; e < fer_emotion_count; ++e) {
        selection.emotions.push_back(e);
        selection.names.push_back(fer_emotion_names()[static_cast<std::size_t>(e)]);
    }
    return selection;
}

// The emotion code of a class name: the names of fer_emotion_names(), case-insensitive, also the Kaggle
// spellings angry, happy and sad. Throws config_error naming it and listing the valid names.
inline int emotion_code(const std::string& name) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (int e = 0; e < fer_emotion_count; ++e) {
        if (lower == fer_emotion_names()[static_cast<std::size_t>(e)]) return e;
    }
    if (lower == "angry") return 0;
    if (lower == "happy") return 3;
    if (lower == "sad") return 4;
    std::string valid;
    for (const std::string& known : fer_emotion_names()) valid += (valid.empty() ? "" : ", ") + known;
    throw config_error("unknown class \"" + name + "\": expected one of " + valid + " (or all)");
}

// The named emotions, labelled 0..k-1 in the order given. Throws config_error for an unknown or repeated
// name, or an empty list.
inline ClassSelection select_named(const std::vector<std::string>& names) {
    if (names.empty()) throw config_error("select_named: no class names given");
    ClassSelection selection;
    for (const std::string& name : names) {
        const int e = emotion_code(name);
        if (selection.label_of(e) >= 0) throw config_error("class \"" + name + "\" is given twice");
        selection.emotions.push_back(e);
        selection.names.push_back(fer_emotion_names()[static_cast<std::size_t>(e)]);
    }
    return selection;
}

// The selection a --classes argument asks for, given the emotion counts of the data:
//   "all"                    every emotion that has rows, in code order: on the full FER2013 all 7, label =
//                            emotion code; on a sample holding fewer emotions, only those
//   "" or a number k         the k largest (empty: 3, the tutorial's happiness, neutral, sadness)
//   "happiness,sadness,..."  the named emotions in the order given (blanks around names are ignored)
// Throws config_error for an unknown name (naming it and listing the valid names), a repeated name, a named
// emotion without rows, or a bad k.
inline ClassSelection select_classes(const std::string& spec, const std::vector<ClassCount>& counts) {
    std::string trimmed = spec;
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
    if (trimmed.empty()) return select_largest(counts, 3);
    if (trimmed == "all") {
        ClassSelection present;
        for (const ClassCount& entry : counts) {
            if (entry.count > 0) {
                present.emotions.push_back(entry.emotion);
                present.names.push_back(entry.name);
            }
        }
        if (present.emotions.empty()) throw config_error("--classes all: the data has no rows");
        return present;
    }
    if (std::all_of(trimmed.begin(), trimmed.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (trimmed.size() > 2) throw config_error("--classes: expected 1 <= k <= 7, got " + trimmed);
        return select_largest(counts, std::stoi(trimmed));
    }
    std::vector<std::string> names;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = trimmed.find(',', start);
        std::string name = trimmed.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        names.push_back(name);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    ClassSelection selection = select_named(names);
    for (const ClassCount& entry : counts) {
        if (entry.count == 0 && selection.label_of(entry.emotion) >= 0) {
            throw config_error("class \"" + entry.name + "\" has no rows in the data");
        }
    }
    return selection;
}

}  // namespace deepcnn
