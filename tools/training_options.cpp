#include "training_options.h"

#include <cstdio>
#include <fstream>
#include <iterator>

#include "compress/random_model.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/engine_teacher.h"

namespace jisu::cli {
namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the text file '" + path + "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

void add_training_flags(CLI::App& command, TrainingFlags& flags) {
  auto& o = flags.options;
  command.add_option("-f,--file", flags.text_file, "training text")->required();
  command.add_option("--valid", flags.valid_file, "validation text (perplexity every --eval-every steps)");
  command.add_option("-o,--output", flags.output, "output GGUF (F32; optimizer state beside it, .optimizer)")
      ->required();
  command.add_option("--resume", flags.resume, "continue from this checkpoint and its .optimizer file");
  command.add_option("--shape", flags.shape, "model shape by name (demo, ...); the flags below override it");
  command.add_option("--dim", flags.dim, "embedding width")->check(CLI::Range(0, 16384));
  command.add_option("--layers", flags.layers, "layers")->check(CLI::Range(0, 256));
  command.add_option("--heads", flags.heads, "attention heads")->check(CLI::Range(0, 1024));
  command.add_option("--kv-heads", flags.kv_heads, "key/value heads (GQA)")->check(CLI::Range(0, 1024));
  command.add_option("--ffn", flags.ffn, "feed-forward width")->check(CLI::Range(0, 65536));
  command.add_option("--ctx", o.seq_len, "tokens per training window")->check(CLI::Range(2, 8192));
  command.add_flag("--tied", flags.tied, "tie the output layer to the token embedding");
  command.add_option("--steps", o.steps, "optimizer steps")->check(CLI::Range(1, 10000000));
  command.add_option("--stop-at", o.stop_at, "stop after this step, schedule still over --steps (resume later)")
      ->check(CLI::Range(0, 10000000));
  command.add_option("--batch", o.batch, "windows per micro-batch")->check(CLI::Range(1, 4096));
  command.add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step")->check(CLI::Range(1, 4096));
  command.add_option("--lr", o.learning_rate, "peak learning rate")->check(CLI::Range(0.0, 10.0));
  command.add_option("--warmup", o.warmup, "linear warm-up steps")->check(CLI::Range(0, 10000000));
  command.add_option("--weight-decay", o.adamw.weight_decay, "AdamW decoupled weight decay")
      ->check(CLI::Range(0.0, 10.0));
  command.add_option("--clip", o.clip, "global gradient-norm clip (0: off)")->check(CLI::Range(0.0, 1e6));
  command.add_option("--seed", o.seed, "seed of the initial weights and of the windows");
  command.add_option("--eval-every", o.eval_every, "validation every this many steps (0: at the end only)")
      ->check(CLI::Range(0, 10000000));
  command.add_option("--eval-windows", o.eval_windows, "validation windows")->check(CLI::Range(1, 100000));
  command.add_option("--save-every", o.save_every, "checkpoint every this many steps (0: at the end only)")
      ->check(CLI::Range(0, 10000000));
  command.add_option("--log-every", o.log_every, "progress line every this many steps")->check(CLI::Range(1, 10000000));
  command.add_option("-t,--threads", flags.threads, "threads (default: all cores)")->check(CLI::Range(0, 1024));
}

train::TrainShape shape_from_flags(const TrainingFlags& flags, int32_t n_vocab) {
  const ModelShape& base = find_model_shape(flags.shape.empty() ? "demo" : flags.shape);
  train::TrainShape shape;
  shape.n_vocab = n_vocab;
  shape.dim = flags.dim ? flags.dim : base.n_embd;
  shape.n_layer = flags.layers ? flags.layers : base.n_layer;
  shape.n_head = flags.heads ? flags.heads : base.n_head;
  shape.n_head_kv = flags.kv_heads ? flags.kv_heads : (flags.heads ? flags.heads : base.n_head_kv);
  shape.n_ff = flags.ffn ? flags.ffn : base.n_ff;
  shape.context_length = std::max<int32_t>(base.context_length, int32_t(flags.options.seq_len));
  shape.rope_base = base.rope_base;
  shape.tied_output = flags.tied;
  shape.validate();
  return shape;
}

int run_training_command(const TrainingFlags& flags, const std::string& tokenizer_path, train::TrainShape shape,
                         std::vector<float> initial, const std::string& teacher_path) {
  const auto tokenizer_file = gguf::GgufFile::open(tokenizer_path);
  train::require_vocabulary(*tokenizer_file);
  const auto tokenizer = Tokenizer::from_gguf(*tokenizer_file);
  train::TrainOptions options = flags.options;

  train::OptimizerState optimizer;
  std::vector<float> params = std::move(initial);
  if (!flags.resume.empty()) {
    train::LoadedParameters loaded = train::read_parameters(flags.resume);
    const auto resumed_file = gguf::GgufFile::open(flags.resume);
    if (!train::same_vocabulary(*resumed_file, *tokenizer_file))
      throw Error("'" + flags.resume + "' has another vocabulary than '" + tokenizer_path + "'");
    shape = loaded.shape;
    params = std::move(loaded.params);
    optimizer = train::read_optimizer_state(flags.resume, params.size());
    if (optimizer.step != loaded.step)
      throw Error("'" + train::optimizer_state_path(flags.resume) + "' is from step " + std::to_string(optimizer.step) +
                  " but the checkpoint from step " + std::to_string(loaded.step));
  }
  if (params.empty()) {
    params.resize(train::ParameterLayout(shape).total());
    train::initialize_parameters(train::ParameterLayout(shape), options.seed, params.data());
  }

  train::TrainData data;
  data.train = tokenizer->encode(read_text_file(flags.text_file), false, false);
  if (!flags.valid_file.empty()) data.valid = tokenizer->encode(read_text_file(flags.valid_file), false, false);
  train::check_training_data(data, options);

  ThreadPool pool(flags.threads > 0 ? size_t(flags.threads) : ThreadPool::default_thread_count());
  std::unique_ptr<train::TeacherTopKCache> teacher_cache;
  if (!flags.teacher_cache.empty()) {
    if (teacher_path.empty()) throw Error("--teacher-cache is for jisu distill");
    train::TeacherCacheKey key;
    key.vocab = uint32_t(shape.n_vocab);
    key.k = flags.teacher_top_k;
    key.batch = options.batch;
    key.seq_len = options.seq_len;
    key.grad_accum = options.grad_accum;
    key.steps = uint64_t(options.steps);
    key.seed = options.seed;
    key.temperature = options.temperature;
    key.teacher_fingerprint = train::teacher_file_fingerprint(teacher_path);
    key.tokens_fingerprint = train::tokens_fingerprint(data.train);
    teacher_cache = std::make_unique<train::TeacherTopKCache>(flags.teacher_cache, key);
    std::fprintf(stderr, "distill: teacher top-%u %s %s\n", key.k,
                 teacher_cache->reading() ? "read from" : "written to", flags.teacher_cache.c_str());
  }
  std::unique_ptr<train::EngineTeacher> teacher;
  if (!teacher_path.empty() && !(teacher_cache && teacher_cache->reading())) {
    // The student's vocabulary is the tokenizer file's (checked by the caller for --student,
    // here for a shape): the teacher's logits must index the same tokens.
    if (shape.n_vocab != train::vocabulary_size(*tokenizer_file))
      throw Error("the student's vocabulary differs from the teacher's");
    teacher = std::make_unique<train::EngineTeacher>(teacher_path, pool, options.batch, options.seq_len);
  }
  const size_t n_params = params.size();
  std::fprintf(stderr,
               "%s: %zu parameters (dim %d, %d layers, %d heads, %d KV heads, ffn %d, vocab %d%s), %zu training "
               "tokens, %zu validation tokens, %lld steps of %zu x %zu x %zu tokens, %zu threads\n",
               teacher_path.empty() ? "train" : "distill", n_params, shape.dim, shape.n_layer, shape.n_head, shape.n_head_kv,
               shape.n_ff, shape.n_vocab, shape.tied_output ? ", tied" : "", data.train.size(), data.valid.size(),
               (long long)options.steps, options.grad_accum, options.batch, options.seq_len, pool.size());
  if (optimizer.step >= options.steps)
    throw Error("the checkpoint is at step " + std::to_string(optimizer.step) + ", not before --steps " +
                std::to_string(options.steps));
  const auto save = [&](int64_t step) {
    train::write_checkpoint(flags.output, shape, params.data(), *tokenizer_file, step);
    train::write_optimizer_state(flags.output, optimizer);
  };
  const train::TrainReport report =
      train::run_training(shape, params, optimizer, data, options, pool, teacher.get(), save, stderr,
                          teacher_cache.get());
  std::fprintf(stderr, "wrote %s (step %lld, loss %.4f%s, %.0f training tokens/s)\n", flags.output.c_str(),
               (long long)report.last_step, report.last_loss,
               report.valid_perplexity > 0 ? (", valid perplexity " + std::to_string(report.valid_perplexity)).c_str()
                                           : "",
               report.tokens_per_second);
  return 0;
}

}  // namespace jisu::cli
