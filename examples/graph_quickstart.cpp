// examples/graph_quickstart.cpp: the README's residual-model example, built and run by the tests so that it stays true.
#include <deepcnn/deepcnn.hpp>
#include <iostream>
using namespace deepcnn;

int main() {
    Graph<float> model(Shape(1, 1, 24, 24), /*seed=*/42);            // the input is named "input"
    model.add("stem", Conv2D<float>(16, 3), {"input"});
    model.add("stem_bn", BatchNorm<float>(), {"stem"});
    model.add("stem_relu", ReLU<float>(), {"stem_bn"});
    model.add("res_conv1", Conv2D<float>(16, 3), {"stem_relu"});      // a residual block
    model.add("res_bn1", BatchNorm<float>(), {"res_conv1"});
    model.add("res_relu1", ReLU<float>(), {"res_bn1"});
    model.add("res_conv2", Conv2D<float>(16, 3), {"res_relu1"});
    model.add("res_bn2", BatchNorm<float>(), {"res_conv2"});
    model.add("res_add", Add<float>(), {"stem_relu", "res_bn2"});     // the skip connection
    model.add("res_relu", ReLU<float>(), {"res_add"});
    model.add("pool", MaxPool2D<float>(4), {"res_relu"});
    model.add("flatten", Flatten<float>(), {"pool"});
    model.add("logits", Dense<float>(3), {"flatten"});
    model.add("softmax", Softmax<float>(), {"logits"});              // the last node is the output
    std::cout << model.summary();                                     // each node's shape and inputs
    write_model_svg("graph_model.svg", model);                        // the picture, as Keras' plot_model

    Tensor<float> images(Shape(32, 1, 24, 24), 0.5f);                 // your data here
    std::vector<int> labels(32, 2);
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    for (int step = 0; step < 30; ++step) model.train_step(images, labels, loss, adam);
    save_model("graph_model.dcnn", model);                            // the topology travels with the weights
    Graph<float> loaded = load_graph<float>("graph_model.dcnn");
    Evaluation e = loaded.evaluate(images, labels);
    std::cout << "loss " << e.loss << ", accuracy " << e.accuracy << "\n";
}
