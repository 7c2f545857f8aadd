#include "models/model.h"

namespace jisu {

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> model(new Model());
  model->file_ = gguf::GgufFile::open(path);
  model->config_ = read_model_config(*model->file_);
  model->weights_ = load_model_weights(*model->file_, model->config_);
  return model;
}

}  // namespace jisu
