// examples/quickstart.cpp: the README's 20-line example, built and run by the tests so that it stays true.
#include <deepcnn/deepcnn.hpp>
#include <iostream>
using namespace deepcnn;

int main() {
    Sequential<float> model(Shape(1, 1, 48, 48), /*seed=*/42);   // one grey 48x48 image per sample
    model.add(Conv2D<float>(32, 3));                              // 'same' padding, He-normal by default
    model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(MaxPool2D<float>(2));
    model.add(Flatten<float>());
    model.add(Dense<float>(3));
    model.add(Softmax<float>());
    std::cout << model.summary();                                 // shapes, parameters, MFLOPs

    Tensor<float> images(Shape(64, 1, 48, 48), 0.5f);             // your data here
    std::vector<int> labels(64, 1);
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    for (int step = 0; step < 100; ++step) model.train_step(images, labels, loss, adam);
    Evaluation e = model.evaluate(images, labels);                // loss and accuracy
    save_model("model.dcnn", model);                              // atomic, checksummed
    std::cout << "loss " << e.loss << ", accuracy " << e.accuracy << "\n";
}
