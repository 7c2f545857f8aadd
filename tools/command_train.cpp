// `jisu train --tokenizer MODEL.gguf -f TEXT [--valid TEXT] [--shape NAME | --dim ...] [--steps
// --batch --lr --warmup --weight-decay --seed --grad-accum] -o OUT.gguf`: trains a llama-family
// model from scratch (or continues one with --resume) on the tokenizer's vocabulary; the output
// is an F32 GGUF every jisu command runs.
#include <memory>

#include "command_registry.h"
#include "format/gguf_file.h"
#include "train/checkpoint.h"
#include "training_options.h"

namespace jisu::cli {
namespace {

struct TrainCommandOptions {
  std::string tokenizer;
  TrainingFlags flags;
};

int run_train(const TrainCommandOptions& options) {
  const auto tokenizer_file = gguf::GgufFile::open(options.tokenizer);
  const train::TrainShape shape = shape_from_flags(options.flags, train::vocabulary_size(*tokenizer_file));
  return run_training_command(options.flags, options.tokenizer, shape, {}, "");
}

CommandRegistrar registrar{"train", "Train a llama-family model on a text (float32, AdamW, GGUF checkpoints)",
                           [](CLI::App& command) {
                             auto options = std::make_shared<TrainCommandOptions>();
                             command.add_option("--tokenizer", options->tokenizer,
                                                "GGUF whose vocabulary (and chat template) the model uses")
                                 ->required();
                             add_training_flags(command, options->flags);
                             return [options] { return run_train(*options); };
                           }};

}  // namespace
}  // namespace jisu::cli
