// tests/programs/make_face_images.cpp: writes FER2013 rows as image files for the program tests and the demo:
// make_face_images CSV OUTDIR COUNT [USAGE] writes the first COUNT rows of USAGE (default PrivateTest) as
// OUTDIR/face_<i>_<emotion>.png, plus a colour 96x96 JPEG and a 3-channel BMP of the first row, through
// libstb's stb_image_write.
#include <deepcnn/io/fer2013.hpp>

#include <stb_image_write.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: make_face_images CSV OUTDIR COUNT [USAGE]\n");
        return 2;
    }
    const std::string usage = argc > 4 ? argv[4] : "PrivateTest";
    const int count = std::atoi(argv[3]);
    try {
        const deepcnn::Fer2013Dataset data = deepcnn::read_fer2013(argv[1]);
        int written = 0;
        for (std::size_t i = 0; i < data.size() && written < count; ++i) {
            if (usage != deepcnn::usage_name(data.usages[i])) continue;
            const std::string stem = std::string(argv[2]) + "/face_" + std::to_string(written) + "_" +
                                     deepcnn::fer_emotion_names()[static_cast<std::size_t>(data.emotions[i])];
            if (!stbi_write_png((stem + ".png").c_str(), 48, 48, 1, data.image(i), 48)) return 1;
            if (written == 0) {
                std::vector<unsigned char> colour(96 * 96 * 3);
                for (int y = 0; y < 96; ++y)
                    for (int x = 0; x < 96; ++x)
                        for (int c = 0; c < 3; ++c)
                            colour[static_cast<std::size_t>((y * 96 + x) * 3 + c)] = data.image(i)[(y / 2) * 48 + x / 2];
                if (!stbi_write_jpg((stem + "_colour.jpg").c_str(), 96, 96, 3, colour.data(), 95)) return 1;
                if (!stbi_write_bmp((stem + "_colour.bmp").c_str(), 96, 96, 3, colour.data())) return 1;
            }
            ++written;
        }
        std::printf("wrote %d faces to %s\n", written, argv[2]);
        return written == count ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_face_images: %s\n", e.what());
        return 1;
    }
}
