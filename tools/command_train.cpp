// `jisu train --tokenizer MODEL.gguf -f TEXT [--valid TEXT] [--shape NAME | --dim ... | --init
// MODEL.gguf] [--steps --batch --lr --warmup --weight-decay --seed --grad-accum] -o OUT.gguf`:
// trains a llama-family model from scratch, fine-tunes an existing one (--init: its weights and
// shape, a fresh optimizer) or continues a run (--resume: weights and optimizer state) on the
// tokenizer's vocabulary; the output is an F32 GGUF every jisu command runs.
#include <algorithm>
#include <memory>

#include "command_registry.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "train/checkpoint.h"
#include "training_options.h"

namespace jisu::cli {
namespace {

struct TrainCommandOptions {
  std::string tokenizer;
  std::string init;  // fine-tune: start from this model's weights (and shape), fresh optimizer
  TrainingFlags flags;
};

int run_train(const TrainCommandOptions& options) {
  const auto tokenizer_file = gguf::GgufFile::open(options.tokenizer);
  if (!options.init.empty()) {
    if (!options.flags.resume.empty()) throw Error("give --init or --resume, not both");
    if (options.flags.shape_given() || options.flags.tied)
      throw Error("--init takes the shape from '" + options.init + "': give no shape flags with it");
    const auto init_file = gguf::GgufFile::open(options.init);
    if (!train::same_vocabulary(*init_file, *tokenizer_file))
      throw Error("'" + options.init + "' has another vocabulary than '" + options.tokenizer + "'");
    train::LoadedParameters loaded = train::read_parameters(options.init);
    // Windows longer than the file's trained context are allowed (as for a new shape); the
    // output's metadata then says the longer context.
    loaded.shape.context_length = std::max<int32_t>(loaded.shape.context_length, int32_t(options.flags.options.seq_len));
    return run_training_command(options.flags, options.tokenizer, loaded.shape, std::move(loaded.params), "");
  }
  const train::TrainShape shape = shape_from_flags(options.flags, train::vocabulary_size(*tokenizer_file));
  return run_training_command(options.flags, options.tokenizer, shape, {}, "");
}

CommandRegistrar registrar{"train", "Train a llama-family model on a text (float32, AdamW, GGUF checkpoints)",
                           [](CLI::App& command) {
                             auto options = std::make_shared<TrainCommandOptions>();
                             command.add_option("--tokenizer", options->tokenizer,
                                                "GGUF whose vocabulary (and chat template) the model uses")
                                 ->required();
                             command.add_option("--init", options->init,
                                                "fine-tune: start from this GGUF's weights and shape (same vocabulary), "
                                                "with a fresh optimizer");
                             add_training_flags(command, options->flags);
                             return [options] { return run_train(*options); };
                           }};

}  // namespace
}  // namespace jisu::cli
