#include "models/model.h"

#include <filesystem>

#include "models/hf_folder.h"

namespace jisu {

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> model(new Model());
  // A folder is a Hugging Face checkpoint, presented as the GGUF description it converts to.
  model->file_ = std::filesystem::is_directory(path) ? load_hf_folder(path) : gguf::GgufFile::open(path);
  model->config_ = read_model_config(*model->file_);
  model->weights_ = load_model_weights(*model->file_, model->config_);
  return model;
}

}  // namespace jisu
