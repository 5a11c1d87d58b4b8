// deepcnn/deepcnn.hpp: the one include. Brings in tensors, every layer, the loss, the optimizers and
// schedules, the Sequential and Graph models, model files and weight loading, the FER2013 and image readers, data
// preparation, the Trainer and reports, ONNX export and import.
#pragma once

#include "config.hpp"
#include "error.hpp"
#include "random.hpp"
#include "tensor.hpp"

#include "layers/avg_pool2d.hpp"
#include "layers/add.hpp"
#include "layers/batch_norm.hpp"
#include "layers/concat.hpp"
#include "layers/conv2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/global_avg_pool2d.hpp"
#include "layers/init.hpp"
#include "layers/layer.hpp"
#include "layers/max_pool2d.hpp"
#include "layers/merge.hpp"
#include "layers/relu.hpp"
#include "layers/softmax.hpp"

#include "loss/softmax_cross_entropy.hpp"

#include "optim/adam.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"

#include "model/graph.hpp"
#include "model/layer_factory.hpp"
#include "model/model_common.hpp"
#include "model/sequential.hpp"
#include "model/weight_average.hpp"

#include "io/atomic_file.hpp"
#include "io/fer2013.hpp"
#include "io/image.hpp"
#include "io/image_batch.hpp"
#include "io/load_weights.hpp"
#include "io/model_file.hpp"
#include "onnx.hpp"

#include "data/augment.hpp"
#include "data/classes.hpp"
#include "data/normalize.hpp"
#include "data/resample.hpp"
#include "data/split.hpp"

#include "train/checkpoint.hpp"
#include "train/data_source.hpp"
#include "train/divergence.hpp"
#include "train/evaluation.hpp"
#include "train/progress.hpp"
#include "train/trainer.hpp"
#include "train/trainer_options.hpp"
#include "train/training_state.hpp"

#include "report/history.hpp"
#include "report/json.hpp"
#include "report/metrics.hpp"
#include "report/model_svg.hpp"
#include "report/plots.hpp"
#include "report/run_report.hpp"
