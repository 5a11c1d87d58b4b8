// tests/programs/graph_model_of.cpp: rewrites a Sequential's model file as a Graph's (format version 2: the same
// layers as a chain of named nodes, the same weights and metadata), so that the program tests can give fer_predict a
// Graph model. Usage: graph_model_of IN.dcnn OUT.dcnn
#include <deepcnn/deepcnn.hpp>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: graph_model_of IN.dcnn OUT.dcnn\n";
        return 2;
    }
    try {
        deepcnn::ModelMetadata meta;
        deepcnn::Graph<float> graph = deepcnn::load_graph<float>(argv[1], &meta);
        deepcnn::save_model(argv[2], graph, meta);
    } catch (const std::exception& e) {
        std::cerr << "graph_model_of: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
