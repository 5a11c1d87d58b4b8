# cmake/deepcnnFindStb.cmake: finds stb_image as distributions ship it (header stb_image.h, compiled library
# libstb: Debian/Ubuntu libstb-dev) and defines the imported target deepcnn::stb, which deepcnn::deepcnn links for
# deepcnn/io/image.hpp. Sets DEEPCNN_STB_FOUND. Used by the top-level CMakeLists.txt and by deepcnnConfig.cmake.
if(NOT TARGET deepcnn::stb)
  find_path(DEEPCNN_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
  find_library(DEEPCNN_STB_LIBRARY stb)
  if(DEEPCNN_STB_INCLUDE_DIR AND DEEPCNN_STB_LIBRARY)
    add_library(deepcnn::stb UNKNOWN IMPORTED)
    set_target_properties(deepcnn::stb PROPERTIES
      IMPORTED_LOCATION "${DEEPCNN_STB_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${DEEPCNN_STB_INCLUDE_DIR}")
  endif()
endif()
if(TARGET deepcnn::stb)
  set(DEEPCNN_STB_FOUND TRUE)
else()
  set(DEEPCNN_STB_FOUND FALSE)
endif()
