// tests/fuzz/stb_image_impl.cpp: stb_image's implementation compiled into the image fuzz target, so that the
// sanitizers and libFuzzer's coverage see inside the decoders. It is the same header libstb is built from; the
// executable's definitions take precedence over the shared library's.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
