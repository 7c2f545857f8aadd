// `jisu distill --teacher T.gguf (--student S.gguf | --shape/--dim ...) -f TEXT --temperature T
// --alpha A ... -o OUT.gguf`: knowledge distillation. The teacher (any weight type) runs on the
// inference engine; the student learns loss = A * CE(hard labels) + (1 - A) * T^2 *
// KL(softmax(teacher / T) || softmax(student / T)).
#include <memory>

#include "command_registry.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "train/checkpoint.h"
#include "training_options.h"

namespace jisu::cli {
namespace {

struct DistillOptions {
  std::string teacher;
  std::string student;
  TrainingFlags flags;
};

int run_distill(const DistillOptions& options) {
  const auto teacher_file = gguf::GgufFile::open(options.teacher);
  train::require_vocabulary(*teacher_file);
  if (!options.student.empty()) {
    if (options.flags.shape_given()) throw Error("give --student or shape flags, not both");
    const auto student_file = gguf::GgufFile::open(options.student);
    if (!train::same_vocabulary(*student_file, *teacher_file))
      throw Error("the student's vocabulary ('" + options.student + "') differs from the teacher's ('" +
                      options.teacher + "')",
                  "distillation compares the two models' distributions token by token");
    train::LoadedParameters student = train::read_parameters(options.student);
    return run_training_command(options.flags, options.teacher, student.shape, std::move(student.params),
                                options.teacher);
  }
  if (!options.flags.shape_given() && options.flags.resume.empty())
    throw Error("distill needs a student: --student FILE.gguf, or a shape (--shape NAME, --dim, --layers ...)");
  const train::TrainShape shape = shape_from_flags(options.flags, train::vocabulary_size(*teacher_file));
  return run_training_command(options.flags, options.teacher, shape, {}, options.teacher);
}

CommandRegistrar registrar{
    "distill", "Distil a teacher model into a student with soft labels at a temperature",
    [](CLI::App& command) {
      auto options = std::make_shared<DistillOptions>();
      command.add_option("--teacher", options->teacher, "teacher GGUF (any weight type)")->required();
      command.add_option("--student", options->student, "student GGUF to start from (same vocabulary)");
      command.add_option("--temperature", options->flags.options.temperature, "softmax temperature T")
          ->check(CLI::Range(0.05, 100.0));
      command.add_option("--alpha", options->flags.options.alpha, "weight of the hard-label cross-entropy")
          ->check(CLI::Range(0.0, 1.0));
      command.add_option("--teacher-cache", options->flags.teacher_cache,
                         "file of the teacher's top-k log-probabilities: written by the first run, read by later "
                         "ones (KL over the top-k plus a tail bucket)");
      command.add_option("--teacher-top-k", options->flags.teacher_top_k, "tokens per position in --teacher-cache")
          ->check(CLI::Range(1, 1 << 20));
      add_training_flags(command, options->flags);
      return [options] { return run_distill(*options); };
    }};

}  // namespace
}  // namespace jisu::cli
