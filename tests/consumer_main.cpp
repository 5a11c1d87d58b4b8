// tests/consumer_main.cpp: the program both consumer projects build: defines, trains a step, saves and reloads
// a tiny model through the one public include, and exits non-zero if anything is off.
#include <deepcnn/deepcnn.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    using namespace deepcnn;
    Sequential<float> model(1, 8, 8, 7);
    model.add(Conv2D<float>(4, 3));
    model.add(ReLU<float>());
    model.add(Flatten<float>());
    model.add(Dense<float>(2));
    Tensor<float> x(Shape(2, 1, 8, 8), 0.25f);
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    const StepResult step = model.train_step(x, {0, 1}, loss, adam);
    const std::string path = argc > 1 ? argv[1] : "consumer_model.dcnn";
    save_model(path, model);
    Sequential<float> loaded = load_model<float>(path);
    const Tensor<float> a = model.predict(x), b = loaded.predict(x);
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) {
            std::fprintf(stderr, "consumer: reloaded model predicts differently\n");
            return 1;
        }
    }
    std::printf("consumer: %zu parameters, loss %.4f, reload bit-exact\n", loaded.parameter_count(), step.loss);
    return 0;
}
